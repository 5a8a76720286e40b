"""What the planner loop reads from and writes to the ledger, in one handle per process.

It reads every workload's recent completed-move durations in one query (the planner learns each
workload's migration time from them) and writes a plan's decisions in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from orchestrator.ledger import vocab
from orchestrator.ledger.db import session_factory
from orchestrator.ledger.decision_repo import record_decision
from orchestrator.ledger.migration_repo import recent_durations
from orchestrator.ledger.records import CandidateScore

DURATIONS_PER_WORKLOAD = 20
"""How many of a workload's most recent completed moves its learned time is made from."""


@dataclass(frozen=True)
class DecisionRow:
    """One decision to record (the ledger's view of the planner's Decision)."""

    namespace: str
    workload: str
    zone: str | None
    action: str
    reason: str
    chosen_cluster: str | None
    candidates: tuple[CandidateScore, ...]


def completed_durations(
    engine: Engine, *, since: datetime, per_workload: int = DURATIONS_PER_WORKLOAD
) -> dict[tuple[str, str], list[float]]:
    """Seconds of each workload's most recent completed moves started since ``since``."""
    with session_factory(engine)() as session:
        return recent_durations(session, since=since, per_workload=per_workload)


def record_decisions(
    engine: Engine,
    rows: Sequence[DecisionRow],
    *,
    decided_at: datetime,
    plan_id: str,
) -> int:
    """Write every decision of one plan in one transaction; returns how many."""
    with session_factory(engine).begin() as session:
        for row in rows:
            record_decision(
                session,
                decided_at=decided_at,
                namespace=row.namespace,
                workload=row.workload,
                zone=row.zone,
                action=row.action,
                reason=row.reason[: vocab.REASON_MAX],
                chosen_cluster=row.chosen_cluster,
                candidates=row.candidates[: vocab.CANDIDATES_MAX],
                plan_id=plan_id,
            )
    return len(rows)

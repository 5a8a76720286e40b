"""What the planner loop reads from and writes to the ledger, in one handle per process.

It reads every workload's recent completed-move durations in one query (the planner learns each
workload's migration time from them) and writes a plan's decisions in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, extract, func, select

from orchestrator.ledger import validate, vocab
from orchestrator.ledger.db import ledger_errors, session_factory
from orchestrator.ledger.decision_repo import record_decision
from orchestrator.ledger.models import Migration
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
    validate.aware("since", since)
    limit = validate.limit(per_workload, maximum=vocab.HISTORY_LIMIT_MAX)
    ranked = (
        select(
            Migration.namespace,
            Migration.workload,
            extract("epoch", Migration.finished_at - Migration.started_at).label("seconds"),
            func.row_number()
            .over(
                partition_by=(Migration.namespace, Migration.workload),
                order_by=Migration.finished_at.desc(),
            )
            .label("rank"),
        )
        .where(Migration.outcome == "Completed", Migration.started_at >= since)
        .subquery()
    )
    query = select(ranked.c.namespace, ranked.c.workload, ranked.c.seconds).where(
        ranked.c.rank <= limit
    )
    found: dict[tuple[str, str], list[float]] = {}
    with ledger_errors("reading learned migration times"), session_factory(engine)() as session:
        for namespace, workload, seconds in session.execute(query):
            found.setdefault((namespace, workload), []).append(float(seconds))
    return found


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

"""Planner decisions: what was chosen for a workload, why, and every candidate's score.

Functions take the caller's ``Session`` and never commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from orchestrator.errors import LedgerInputError
from orchestrator.ledger import validate, vocab
from orchestrator.ledger.db import ledger_errors
from orchestrator.ledger.models import Decision
from orchestrator.ledger.records import CandidateScore, DecisionRecord
from orchestrator.ledger.rows import decision_record
from orchestrator.ledger.vocab import JsonValue


def record_decision(
    session: Session,
    *,
    decided_at: datetime,
    namespace: str,
    workload: str,
    zone: str | None,
    action: str,
    reason: str,
    chosen_cluster: str | None,
    candidates: Sequence[CandidateScore],
    plan_id: str | None = None,
    migration_uid: uuid.UUID | str | None = None,
) -> int:
    """Record one decision and return its id. ``move`` and ``return_home`` need a cluster."""
    chosen = validate.optional_text("chosen_cluster", chosen_cluster, max_len=vocab.CLUSTER_MAX)
    verb = validate.one_of("action", action, vocab.DECISION_ACTIONS)
    if verb != "hold" and chosen is None:
        raise LedgerInputError(f"action {verb} needs a chosen_cluster")
    scores = validate.sequence("candidates", candidates, max_items=vocab.CANDIDATES_MAX)
    documents: list[JsonValue] = []
    for position, score in enumerate(scores):
        if not isinstance(score, CandidateScore):
            raise LedgerInputError(
                f"candidates[{position}] must be a CandidateScore, got {type(score).__name__}"
            )
        documents.append(score.to_json())
    row = dict(
        decided_at=validate.aware("decided_at", decided_at),
        namespace=validate.text("namespace", namespace, max_len=vocab.NAMESPACE_MAX),
        workload=validate.text("workload", workload, max_len=vocab.NAME_MAX),
        zone=validate.optional_text("zone", zone, max_len=vocab.ZONE_MAX),
        action=verb,
        reason=validate.text("reason", reason, max_len=vocab.REASON_MAX),
        chosen_cluster=chosen,
        candidates=documents,
        plan_id=validate.optional_text("plan_id", plan_id, max_len=vocab.PLAN_ID_MAX),
        migration_uid=validate.optional_uid("migration_uid", migration_uid),
    )
    with ledger_errors(f"recording a decision about {namespace}/{workload}"):
        return session.execute(insert(Decision).values(row).returning(Decision.id)).scalar_one()


def decision_history(
    session: Session,
    *,
    namespace: str | None = None,
    workload: str | None = None,
    zone: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
) -> list[DecisionRecord]:
    """Decisions made in [since, until), newest first, filtered by what is given."""
    validate.time_range(since, until)
    query = select(Decision)
    if namespace is not None:
        ns = validate.text("namespace", namespace, max_len=vocab.NAMESPACE_MAX)
        query = query.where(Decision.namespace == ns)
    if workload is not None:
        name = validate.text("workload", workload, max_len=vocab.NAME_MAX)
        query = query.where(Decision.workload == name)
    if zone is not None:
        query = query.where(Decision.zone == validate.text("zone", zone, max_len=vocab.ZONE_MAX))
    if since is not None:
        query = query.where(Decision.decided_at >= since)
    if until is not None:
        query = query.where(Decision.decided_at < until)
    query = query.order_by(Decision.decided_at.desc(), Decision.id.desc()).limit(
        validate.limit(limit, maximum=vocab.HISTORY_LIMIT_MAX)
    )
    with ledger_errors("reading decision history"):
        return [decision_record(row) for row in session.scalars(query)]

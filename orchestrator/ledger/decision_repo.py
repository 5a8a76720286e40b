"""Planner decisions: what was chosen for a workload, why, and every candidate's score.

Functions take the caller's ``Session`` and never commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from orchestrator.errors import LedgerInputError
from orchestrator.ledger import validate, vocab
from orchestrator.ledger.db import ledger_errors
from orchestrator.ledger.grid_repo import dr_event_id_named
from orchestrator.ledger.models import Decision, DecisionSignal, GridSignal, Migration
from orchestrator.ledger.records import CandidateScore, DecisionRecord, SignalRecord
from orchestrator.ledger.rows import decision_record, signal_record
from orchestrator.ledger.vocab import JsonValue

SIGNALS_PER_DECISION = 16
"""At most this many signals of each kind of cause are joined to one decision."""


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
    trigger: str | None = None,
    chosen_zone: str | None = None,
    signal_external_id: str | None = None,
    dr_event_name: str | None = None,
) -> int:
    """Record one decision and return its id. ``move`` and ``return_home`` need a cluster.

    The decision is joined to its causes: ``dr_event_id`` is the DR event whose object is
    ``dr_event_name``, and ``decision_signals`` holds that event's order signals and the zone's
    signals with ``signal_external_id``. Given ``migration_uid`` (a decision its Migration
    carried while the ledger was away) the write happens once per Migration: a repeat returns
    the first id, and the migration's row, once written, names the decision.
    """
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
    key = validate.optional_uid("migration_uid", migration_uid)
    named = validate.optional_text(
        "signal_external_id", signal_external_id, max_len=vocab.EXTERNAL_ID_MAX
    )
    event_name = validate.optional_text("dr_event_name", dr_event_name, max_len=vocab.NAME_MAX)
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
        migration_uid=key,
        trigger=None
        if trigger is None
        else validate.one_of("trigger", trigger, vocab.MIGRATION_TRIGGERS),
        chosen_zone=validate.optional_text("chosen_zone", chosen_zone, max_len=vocab.ZONE_MAX),
        signal_external_id=named,
    )
    with ledger_errors(f"recording a decision about {namespace}/{workload}"):
        event_id = None if event_name is None else dr_event_id_named(session, event_name)
        statement = pg_insert(Decision).values({**row, "dr_event_id": event_id})
        if key is not None:
            statement = statement.on_conflict_do_nothing(index_elements=[Decision.migration_uid])
        inserted = session.execute(statement.returning(Decision.id)).scalar_one_or_none()
        if inserted is None:  # this Migration's decision is in the ledger already
            return session.execute(
                select(Decision.id).where(Decision.migration_uid == key)
            ).scalar_one()
        _link_signals(session, inserted, event_id=event_id, zone=row["zone"], named=named)
        if key is not None:
            session.execute(
                update(Migration)
                .where(Migration.id == key, Migration.decision_id.is_(None))
                .values(decision_id=inserted)
            )
        return inserted


def _link_signals(
    session: Session, decision_id: int, *, event_id: int | None, zone: object, named: str | None
) -> None:
    """Join the decision to the DR event's order signals and the zone's signals ``named``."""
    found: set[int] = set()
    if event_id is not None:
        found.update(
            session.scalars(
                select(GridSignal.id)
                .where(GridSignal.dr_event_id == event_id)
                .order_by(GridSignal.id.desc())
                .limit(SIGNALS_PER_DECISION)
            )
        )
    if named is not None and isinstance(zone, str):
        found.update(
            session.scalars(
                select(GridSignal.id)
                .where(GridSignal.zone == zone, GridSignal.external_id == named)
                .order_by(GridSignal.id.desc())
                .limit(SIGNALS_PER_DECISION)
            )
        )
    if found:
        session.execute(
            pg_insert(DecisionSignal)
            .values([{"decision_id": decision_id, "signal_id": i} for i in sorted(found)])
            .on_conflict_do_nothing()
        )


def decision_signals(session: Session, decision_id: int) -> list[SignalRecord]:
    """The signals behind a decision, oldest first."""
    query = (
        select(GridSignal)
        .join(DecisionSignal, DecisionSignal.signal_id == GridSignal.id)
        .where(DecisionSignal.decision_id == decision_id)
        .order_by(GridSignal.interval_start, GridSignal.id)
    )
    with ledger_errors(f"reading the signals of decision {decision_id}"):
        return [signal_record(row) for row in session.scalars(query)]


def get_decision(session: Session, decision_id: int) -> DecisionRecord | None:
    """The decision with this id, if recorded."""
    with ledger_errors(f"reading decision {decision_id}"):
        row = session.get(Decision, decision_id)
        return None if row is None else decision_record(row)


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

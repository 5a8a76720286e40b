"""The causal chain read back: why a workload moved at a given time, and what a DR event's
report needs.

One question, answered from the ledger alone by following the chain the writes keep::

    migration (and its phases)
      -> decision (migrations.decision_id: the candidates and the reason)
        -> signals (decision_signals; for a move made by hand, its reason's signalID)
      -> DR event (migrations.dr_event_id, else the decision's), its states and shed curve

Functions take the caller's ``Session`` and never commit.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from orchestrator.ledger import validate, vocab
from orchestrator.ledger.db import ledger_errors
from orchestrator.ledger.decision_repo import SIGNALS_PER_DECISION, decision_signals, get_decision
from orchestrator.ledger.dr_repo import dr_event_story
from orchestrator.ledger.models import GridSignal, Migration
from orchestrator.ledger.records import (
    DrEventRecord,
    DrReportInputs,
    MigrationRecord,
    ReportedMove,
    SignalRecord,
    WhyRecord,
)
from orchestrator.ledger.rows import migration_record, signal_record


def move_at(
    session: Session, *, namespace: str, workload: str, at: datetime
) -> MigrationRecord | None:
    """The workload's move in flight at ``at``, else the last one started before it."""
    ns = validate.text("namespace", namespace, max_len=vocab.NAMESPACE_MAX)
    name = validate.text("workload", workload, max_len=vocab.NAME_MAX)
    when = validate.aware("at", at)
    before = (
        select(Migration)
        .where(Migration.namespace == ns, Migration.workload == name, Migration.started_at <= when)
        .options(selectinload(Migration.phases))
        .order_by(Migration.started_at.desc(), Migration.id)
        .limit(1)
    )
    in_flight = before.where((Migration.finished_at.is_(None)) | (Migration.finished_at >= when))
    with ledger_errors(f"finding the move of {namespace}/{workload} at {when.isoformat()}"):
        for query in (in_flight, before):
            row = session.scalars(query.execution_options(populate_existing=True)).first()
            if row is not None:
                return migration_record(row)
    return None


def why(session: Session, *, namespace: str, workload: str, at: datetime) -> WhyRecord | None:
    """Why the workload moved at ``at``: the chain from its move back to the grid; None when
    the ledger holds no move of it started by then."""
    migration = move_at(session, namespace=namespace, workload=workload, at=at)
    if migration is None:
        return None
    decision = (
        None if migration.decision_id is None else get_decision(session, migration.decision_id)
    )
    signals: list[SignalRecord] = []
    if decision is not None:
        signals = decision_signals(session, decision.id)
    elif migration.signal_external_id is not None:
        signals = _named(session, migration.signal_external_id)
    event_id = migration.dr_event_id or (decision.dr_event_id if decision else None)
    story = None if event_id is None else dr_event_story(session, event_id)
    return WhyRecord(migration=migration, decision=decision, signals=tuple(signals), dr_event=story)


def _named(session: Session, external_id: str) -> list[SignalRecord]:
    """The signals with this external id (a move made by hand names no zone), newest first."""
    query = (
        select(GridSignal)
        .where(GridSignal.external_id == external_id)
        .order_by(GridSignal.id.desc())
        .limit(SIGNALS_PER_DECISION)
    )
    with ledger_errors(f"reading signals {external_id}"):
        return [signal_record(row) for row in session.scalars(query)]


PRICE_LOOKBACK = timedelta(days=1)
"""Price signals that started this long before the window still count (a day-ahead tariff)."""


def report_inputs(
    session: Session, event: DrEventRecord, *, until: datetime
) -> DrReportInputs | None:
    """What the report of ``event`` needs: its story, order signals, the moves made for it
    (each with its decision, signals and when the workload left the target) and the price
    signals of every zone involved, up to ``until``."""
    story = dr_event_story(session, event.id)
    if story is None:
        return None
    with ledger_errors(f"reading the report of DR event {event.id}"):
        order = session.scalars(
            select(GridSignal)
            .where(GridSignal.dr_event_id == event.id)
            .order_by(GridSignal.interval_start, GridSignal.id)
        )
        order_signals = tuple(signal_record(row) for row in order)
        rows = session.scalars(
            select(Migration)
            .where(Migration.dr_event_id == event.id)
            .options(selectinload(Migration.phases))
            .order_by(Migration.started_at, Migration.id)
            .limit(vocab.HISTORY_LIMIT_MAX)
            .execution_options(populate_existing=True)
        )
        migrations = [migration_record(row) for row in rows]
    moves = []
    for m in migrations:
        decision = None if m.decision_id is None else get_decision(session, m.decision_id)
        signals = () if decision is None else tuple(decision_signals(session, decision.id))
        moves.append(
            ReportedMove(
                migration=m,
                decision=decision,
                signals=signals,
                left_target_at=_left_target(session, m),
            )
        )
    zones = {event.zone} | {
        mv.decision.chosen_zone for mv in moves if mv.decision and mv.decision.chosen_zone
    }
    since = event.window_start - PRICE_LOOKBACK
    end = event.window_end or until
    prices = {zone: tuple(_prices(session, zone, since=since, until=end)) for zone in sorted(zones)}
    return DrReportInputs(
        story=story, order_signals=order_signals, moves=tuple(moves), prices=prices
    )


def _left_target(session: Session, move: MigrationRecord) -> datetime | None:
    """When the workload's next completed move out of ``move``'s target finished."""
    if move.outcome != "Completed" or move.finished_at is None:
        return None
    with ledger_errors(f"reading where {move.namespace}/{move.workload} went next"):
        return session.execute(
            select(Migration.finished_at)
            .where(
                Migration.namespace == move.namespace,
                Migration.workload == move.workload,
                Migration.from_cluster == move.to_cluster,
                Migration.outcome == "Completed",
                Migration.started_at >= move.finished_at,
            )
            .order_by(Migration.started_at)
            .limit(1)
        ).scalar_one_or_none()


def _prices(session: Session, zone: str, *, since: datetime, until: datetime) -> list[SignalRecord]:
    query = (
        select(GridSignal)
        .where(
            GridSignal.zone == zone,
            GridSignal.kind == "price",
            GridSignal.interval_start >= since,
            GridSignal.interval_start < until,
        )
        .order_by(GridSignal.interval_start, GridSignal.id)
        .limit(vocab.HISTORY_LIMIT_MAX)
    )
    with ledger_errors(f"reading the prices of zone {zone}"):
        return [signal_record(row) for row in session.scalars(query)]

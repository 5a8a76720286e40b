"""Grid signals and demand-response events: idempotent writes keyed by the source's ids.

Every function takes the caller's ``Session`` and never commits. Input is checked first
(``LedgerInputError``); database failures leave as ``LedgerError``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from orchestrator.errors import LedgerConflict, LedgerNotFound
from orchestrator.ledger import validate, vocab
from orchestrator.ledger.db import ledger_errors
from orchestrator.ledger.dr_repo import enter_state
from orchestrator.ledger.models import DrEvent, GridSignal
from orchestrator.ledger.records import DrEventRecord, SignalRecord
from orchestrator.ledger.rows import dr_event_record, signal_record
from orchestrator.ledger.vocab import JsonValue

_ZERO = Decimal(0)


def record_signal(
    session: Session,
    *,
    source: str,
    external_id: str,
    zone: str,
    kind: str,
    interval_start: datetime,
    interval_end: datetime | None,
    value: Decimal | float | None,
    unit: str,
    payload: Mapping[str, JsonValue],
) -> tuple[int, bool]:
    """Record a signal once per (source, external id, zone, interval start); return (id, created).

    ``INSERT ... ON CONFLICT DO NOTHING`` then a look-up: two transactions recording the same
    signal at once get one row and the same id, and exactly one of them sees ``created``.
    A repeat never changes the stored row.
    """
    start = validate.aware("interval_start", interval_start)
    end = validate.optional_aware("interval_end", interval_end)
    validate.ordered("interval_start", start, "interval_end", end)
    row = {
        "source": validate.text("source", source, max_len=vocab.SOURCE_MAX),
        "external_id": validate.text("external_id", external_id, max_len=vocab.EXTERNAL_ID_MAX),
        "zone": validate.text("zone", zone, max_len=vocab.ZONE_MAX),
        "kind": validate.one_of("kind", kind, vocab.SIGNAL_KINDS),
        "interval_start": start,
        "interval_end": end,
        "value": validate.optional_decimal("value", value, digits=vocab.SIGNAL_VALUE_DIGITS),
        "unit": validate.text("unit", unit, max_len=vocab.UNIT_MAX),
        "payload": validate.json_object("payload", payload, max_bytes=vocab.PAYLOAD_MAX_BYTES),
    }
    key = (
        GridSignal.source == source,
        GridSignal.external_id == external_id,
        GridSignal.zone == zone,
        GridSignal.interval_start == start,
    )
    with ledger_errors(f"recording signal {source} {external_id}"):
        inserted = session.execute(
            pg_insert(GridSignal)
            .values(row)
            .on_conflict_do_nothing(
                index_elements=[
                    GridSignal.source,
                    GridSignal.external_id,
                    GridSignal.zone,
                    GridSignal.interval_start,
                ]
            )
            .returning(GridSignal.id)
        ).scalar_one_or_none()
        if inserted is not None:
            return inserted, True
        existing = session.execute(select(GridSignal.id).where(*key)).scalar_one_or_none()
    if existing is None:
        raise LedgerConflict(
            f"signal {source} {external_id} conflicted with a row this transaction cannot see; "
            "record signals in READ COMMITTED transactions"
        )
    return existing, False


def mark_signal_processed(session: Session, *, signal_id: int, processed_at: datetime) -> None:
    """Note when the planner consumed a signal; a repeat moves the time."""
    validate.integer("signal_id", signal_id, minimum=1, maximum=2**63 - 1)
    when = validate.aware("processed_at", processed_at)
    with ledger_errors(f"marking signal {signal_id} processed"):
        found = session.execute(
            update(GridSignal)
            .where(GridSignal.id == signal_id)
            .values(processed_at=when)
            .returning(GridSignal.id)
        ).scalar_one_or_none()
    if found is None:
        raise LedgerNotFound(f"no signal with id {signal_id}")


def zones_with_unprocessed_signals(
    session: Session, *, since: datetime, until: datetime
) -> list[str]:
    """Zones that have signals not yet processed whose interval starts in [since, until)."""
    validate.aware("since", since)
    validate.aware("until", until)
    validate.time_range(since, until)
    with ledger_errors("reading the zones with unprocessed signals"):
        found = session.execute(
            select(GridSignal.zone)
            .where(
                GridSignal.processed_at.is_(None),
                GridSignal.interval_start >= since,
                GridSignal.interval_start < until,
            )
            .distinct()
        ).scalars()
        return sorted(found)


def signal_history(
    session: Session,
    *,
    zone: str,
    since: datetime,
    until: datetime,
    kind: str | None = None,
    limit: int = 1000,
) -> list[SignalRecord]:
    """Signals for ``zone`` whose interval starts in [since, until), oldest first."""
    validate.text("zone", zone, max_len=vocab.ZONE_MAX)
    validate.aware("since", since)
    validate.aware("until", until)
    validate.time_range(since, until)
    query = select(GridSignal).where(
        GridSignal.zone == zone,
        GridSignal.interval_start >= since,
        GridSignal.interval_start < until,
    )
    if kind is not None:
        query = query.where(GridSignal.kind == validate.one_of("kind", kind, vocab.SIGNAL_KINDS))
    query = query.order_by(GridSignal.interval_start, GridSignal.id).limit(
        validate.limit(limit, maximum=vocab.HISTORY_LIMIT_MAX)
    )
    with ledger_errors(f"reading signals of zone {zone}"):
        return [signal_record(row) for row in session.scalars(query)]


def upsert_dr_event(
    session: Session,
    *,
    source: str,
    external_id: str,
    zone: str,
    kind: str,
    target_kw: Decimal | float,
    window_start: datetime,
    window_end: datetime | None,
    response_deadline_seconds: int,
    k8s_name: str | None = None,
    at: datetime | None = None,
) -> tuple[int, bool]:
    """Record a demand-response event, or update it when the source revises it; (id, created).

    A new event starts ``Scheduled`` (a transition at ``at``, else the transaction's time). A
    revision updates what the source controls (zone, kind, target, window, deadline) and leaves
    the response's state alone; ``k8s_name`` is kept unless a new one is given.
    """
    start = validate.aware("window_start", window_start)
    end = validate.optional_aware("window_end", window_end)
    validate.ordered("window_start", start, "window_end", end)
    revisable: dict[str, object] = {
        "zone": validate.text("zone", zone, max_len=vocab.ZONE_MAX),
        "kind": validate.one_of("kind", kind, vocab.DR_EVENT_KINDS),
        "target_kw": validate.positive(
            "target_kw", validate.decimal("target_kw", target_kw, digits=vocab.KW_DIGITS)
        ),
        "window_start": start,
        "window_end": end,
        "response_deadline_seconds": validate.integer(
            "response_deadline_seconds",
            response_deadline_seconds,
            minimum=1,
            maximum=vocab.DEADLINE_SECONDS_MAX,
        ),
    }
    validate.text("source", source, max_len=vocab.SOURCE_MAX)
    validate.text("external_id", external_id, max_len=vocab.EXTERNAL_ID_MAX)
    name = validate.optional_text("k8s_name", k8s_name, max_len=vocab.NAME_MAX)
    key = (DrEvent.source == source, DrEvent.external_id == external_id)
    with ledger_errors(f"recording DR event {source} {external_id}"):
        inserted = session.execute(
            pg_insert(DrEvent)
            .values(
                source=source,
                external_id=external_id,
                state="Scheduled",
                k8s_name=name,
                **revisable,
            )
            .on_conflict_do_nothing(index_elements=[DrEvent.source, DrEvent.external_id])
            .returning(DrEvent.id)
        ).scalar_one_or_none()
        if inserted is not None:
            enter_state(session, inserted, "Scheduled", at, None)
            return inserted, True
        changes = {**revisable, "updated_at": func.now()}
        if name is not None:
            changes["k8s_name"] = name
        updated = session.execute(
            update(DrEvent).where(*key).values(changes).returning(DrEvent.id)
        ).scalar_one_or_none()
    if updated is None:
        raise LedgerConflict(
            f"DR event {source} {external_id} conflicted with a row this transaction cannot "
            "see; record events in READ COMMITTED transactions"
        )
    return updated, False


def set_dr_event_state(
    session: Session,
    *,
    event_id: int,
    state: str,
    achieved_kw: Decimal | float | None = None,
    responded_at: datetime | None = None,
    k8s_name: str | None = None,
    at: datetime | None = None,
) -> DrEventRecord:
    """Set a DR event's state; ``achieved_kw``, ``responded_at`` and ``k8s_name`` when given.

    A change of state is a transition at ``at`` (else the transaction's time)."""
    validate.integer("event_id", event_id, minimum=1, maximum=2**63 - 1)
    changes: dict[str, object] = {
        "state": validate.one_of("state", state, vocab.DR_EVENT_STATES),
        "updated_at": func.now(),
    }
    if achieved_kw is not None:
        changes["achieved_kw"] = validate.decimal(
            "achieved_kw", achieved_kw, digits=vocab.KW_DIGITS, minimum=_ZERO
        )
    if responded_at is not None:
        changes["responded_at"] = validate.aware("responded_at", responded_at)
    if k8s_name is not None:
        changes["k8s_name"] = validate.text("k8s_name", k8s_name, max_len=vocab.NAME_MAX)
    with ledger_errors(f"setting the state of DR event {event_id}"):
        before = session.execute(
            select(DrEvent.state).where(DrEvent.id == event_id).with_for_update()
        ).scalar_one_or_none()
        row = session.scalars(
            update(DrEvent)
            .where(DrEvent.id == event_id)
            .values(changes)
            .returning(DrEvent)
            .execution_options(populate_existing=True)
        ).one_or_none()
        if row is None:
            raise LedgerNotFound(f"no DR event with id {event_id}")
        if before != row.state:
            enter_state(session, event_id, row.state, at, None)
        return dr_event_record(row)


def get_dr_event(session: Session, *, source: str, external_id: str) -> DrEventRecord | None:
    """The DR event with this source and external id, if recorded."""
    validate.text("source", source, max_len=vocab.SOURCE_MAX)
    validate.text("external_id", external_id, max_len=vocab.EXTERNAL_ID_MAX)
    with ledger_errors(f"reading DR event {source} {external_id}"):
        row = session.scalars(
            select(DrEvent).where(DrEvent.source == source, DrEvent.external_id == external_id)
        ).one_or_none()
        return None if row is None else dr_event_record(row)


def dr_events_for_zone(
    session: Session,
    *,
    zone: str | None,
    since: datetime | None = None,
    until: datetime | None = None,
    states: Collection[str] | None = None,
    limit: int = 100,
) -> list[DrEventRecord]:
    """DR events of ``zone`` (None: of every zone) whose window starts in [since, until), in
    ``states``; oldest first."""
    validate.time_range(since, until)
    query = select(DrEvent)
    if zone is not None:
        query = query.where(DrEvent.zone == validate.text("zone", zone, max_len=vocab.ZONE_MAX))
    if since is not None:
        query = query.where(DrEvent.window_start >= since)
    if until is not None:
        query = query.where(DrEvent.window_start < until)
    if states is not None:
        wanted = [validate.one_of("state", s, vocab.DR_EVENT_STATES) for s in states]
        query = query.where(DrEvent.state.in_(wanted))
    query = query.order_by(DrEvent.window_start, DrEvent.id).limit(
        validate.limit(limit, maximum=vocab.HISTORY_LIMIT_MAX)
    )
    with ledger_errors(f"reading DR events of zone {zone or 'any'}"):
        return [dr_event_record(row) for row in session.scalars(query)]


def dr_event_id_named(session: Session, k8s_name: str) -> int | None:
    """The id of the DR event whose Kubernetes object is ``k8s_name``, if recorded."""
    return session.execute(
        select(DrEvent.id).where(DrEvent.k8s_name == k8s_name)
    ).scalar_one_or_none()


def link_dr_signals(session: Session, *, event_id: int, signal_ids: Collection[int]) -> None:
    """Note that the ``dr_event`` signals ``signal_ids`` ordered the DR event ``event_id``."""
    validate.integer("event_id", event_id, minimum=1, maximum=2**63 - 1)
    ids = [validate.integer("signal id", i, minimum=1, maximum=2**63 - 1) for i in signal_ids]
    if not ids:
        return
    with ledger_errors(f"linking the order signals of DR event {event_id}"):
        session.execute(
            update(GridSignal)
            .where(GridSignal.id.in_(ids), GridSignal.kind == "dr_event")
            .values(dr_event_id=event_id)
        )


def dr_events_in_force(session: Session, *, zone: str, at: datetime) -> list[DrEventRecord]:
    """The zone's DR events whose window covers ``at`` and that are not Cancelled or Ended,
    oldest window first."""
    validate.text("zone", zone, max_len=vocab.ZONE_MAX)
    when = validate.aware("at", at)
    query = (
        select(DrEvent)
        .where(
            DrEvent.zone == zone,
            DrEvent.window_start <= when,
            (DrEvent.window_end.is_(None)) | (DrEvent.window_end > when),
            DrEvent.state.not_in(vocab.DR_EVENT_FINAL_STATES),
        )
        .order_by(DrEvent.window_start, DrEvent.id)
        .limit(vocab.HISTORY_LIMIT_MAX)
    )
    with ledger_errors(f"reading the DR events in force in zone {zone}"):
        return [dr_event_record(row) for row in session.scalars(query)]

"""How each demand-response event's response went: its states, outcome and shed curve.

The controller accounts every DemandResponseEvent after each plan and hands the result over as
a :class:`DrObservation`; :func:`observe_dr_event` turns it into the event's row (state,
kW shed and missing, responded, met, outcome), one ``dr_event_transitions`` row per state
entered and one ``dr_event_samples`` row whenever the figures change (and at least every
``SAMPLE_EVERY`` while the event runs). It is level-triggered: the same observation twice
changes nothing, and a missed round only leaves a coarser curve.

The ledger's state follows the object's, except that once the window has closed after Met or
Missed the row turns ``Ended`` (``outcome`` keeps which); Ended and Cancelled are final.
Functions take the caller's ``Session`` and never commit.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from orchestrator.errors import LedgerError
from orchestrator.ledger import validate, vocab
from orchestrator.ledger.db import ledger_errors
from orchestrator.ledger.models import DrEvent, DrEventSample, DrEventTransition
from orchestrator.ledger.records import DrEventRecord, DrEventStory, DrObservation
from orchestrator.ledger.rows import dr_event_record, sample_record, transition_record

SAMPLE_EVERY = timedelta(seconds=60)
"""While an event runs, a sample is written at least this often, even when nothing changed."""
HUB_SOURCE = "hub"
"""``dr_events.source`` of an event the ledger first learned from its object in the hub (one
applied by hand, or before any signal ordered it)."""
_ZERO = Decimal(0)


def _kw(name: str, value: float) -> Decimal:
    return validate.decimal(name, value, digits=vocab.KW_DIGITS, minimum=_ZERO).quantize(
        Decimal("0.001")
    )


def ledger_state(observation: DrObservation, *, at: datetime) -> str:
    """The row's state for what the object shows at ``at``."""
    ended = observation.window_end is not None and at >= observation.window_end
    if observation.state in vocab.DR_EVENT_OUTCOMES and ended:
        return "Ended"
    return observation.state


def observe_dr_event(
    session: Session, observation: DrObservation, *, at: datetime
) -> DrEventRecord:
    """Record how the event stands at ``at``; its row after the change.

    An event the ledger has no row for (by its object's name) gets one, with source ``hub``.
    """
    o = observation
    when = validate.aware("at", at)
    name = validate.text("k8s_name", o.k8s_name, max_len=vocab.NAME_MAX)
    state = validate.one_of("state", ledger_state(o, at=when), vocab.DR_EVENT_STATES)
    figures = {
        "shed_kw": _kw("shed_kw", o.shed_kw),
        "in_flight_kw": _kw("in_flight_kw", o.in_flight_kw),
        "zone_load_kw": _kw("zone_load_kw", o.zone_load_kw),
        "missing_kw": _kw("missing_kw", o.missing_kw),
    }
    spec = {
        "zone": validate.text("zone", o.zone, max_len=vocab.ZONE_MAX),
        "kind": validate.one_of("kind", o.kind, vocab.DR_EVENT_KINDS),
        "target_kw": validate.positive(
            "target_kw", validate.decimal("target_kw", o.target_kw, digits=vocab.KW_DIGITS)
        ),
        "window_start": validate.aware("window_start", o.window_start),
        "window_end": validate.optional_aware("window_end", o.window_end),
        "response_deadline_seconds": validate.integer(
            "response_deadline_seconds",
            o.response_deadline_seconds,
            minimum=1,
            maximum=vocab.DEADLINE_SECONDS_MAX,
        ),
    }
    validate.ordered("window_start", o.window_start, "window_end", o.window_end)
    responded = validate.optional_aware("responded_at", o.responded_at)
    met = validate.optional_aware("met_at", o.met_at)
    message = o.message[: vocab.MESSAGE_MAX] or None
    with ledger_errors(f"recording how DR event {name} stands"):
        row = _row_for_update(session, name, spec, state=state, at=when, message=message)
        if row.state in vocab.DR_EVENT_FINAL_STATES:
            return dr_event_record(row)
        if row.source == HUB_SOURCE:
            for column, value in spec.items():
                setattr(row, column, value)
        row.achieved_kw = figures["shed_kw"]
        row.missing_kw = figures["missing_kw"]
        row.responded_at = row.responded_at or responded
        row.met_at = row.met_at or met
        if row.outcome is None and o.state in vocab.DR_EVENT_OUTCOMES:
            row.outcome = o.state
            deadline = row.window_start + timedelta(seconds=row.response_deadline_seconds)
            row.outcome_at = row.met_at if o.state == "Met" and row.met_at else deadline
        if state != row.state:
            if state == "Ended" and row.state not in vocab.DR_EVENT_OUTCOMES and row.outcome:
                enter_state(session, row.id, row.outcome, when, message)  # seen only once it ended
            row.state = state
            enter_state(session, row.id, state, when, message)
        row.updated_at = func.now()
        session.flush()
        _sample(session, row.id, state, figures, when)
        session.refresh(row)
        return dr_event_record(row)


def _row_for_update(
    session: Session,
    name: str,
    spec: dict[str, object],
    *,
    state: str,
    at: datetime,
    message: str | None,
) -> DrEvent:
    """The event's row, locked; created (source ``hub``, in ``state``) when the ledger has none."""
    query = select(DrEvent).where(DrEvent.k8s_name == name).with_for_update()
    row = session.scalars(query).one_or_none()
    if row is None:
        created = session.execute(
            pg_insert(DrEvent)
            .values(source=HUB_SOURCE, external_id=name, k8s_name=name, state=state, **spec)
            .on_conflict_do_nothing()
            .returning(DrEvent.id)
        ).scalar_one_or_none()
        if created is not None:
            enter_state(session, created, state, at, message)
        row = session.scalars(query.execution_options(populate_existing=True)).one_or_none()
    if row is None:
        raise LedgerError(f"DR event {name} could not be recorded (a row with its name conflicts)")
    return row


def enter_state(
    session: Session, event_id: int, state: str, at: datetime | None, message: str | None
) -> None:
    """Note that the event entered ``state`` at ``at`` (None: the transaction's time)."""
    session.execute(
        insert(DrEventTransition).values(
            dr_event_id=event_id,
            state=state,
            entered_at=func.now() if at is None else at,
            message=message,
        )
    )


def _sample(
    session: Session, event_id: int, state: str, figures: dict[str, Decimal], at: datetime
) -> None:
    """A point of the shed curve, when the figures moved or the last point is old."""
    last = session.scalars(
        select(DrEventSample)
        .where(DrEventSample.dr_event_id == event_id)
        .order_by(DrEventSample.sampled_at.desc())
        .limit(1)
    ).one_or_none()
    if last is not None:
        same = last.state == state and all(getattr(last, k) == v for k, v in figures.items())
        if last.sampled_at >= at or (same and at - last.sampled_at < SAMPLE_EVERY):
            return
    session.execute(
        pg_insert(DrEventSample)
        .values(dr_event_id=event_id, sampled_at=at, state=state, **figures)
        .on_conflict_do_nothing()
    )


def dr_event_story(session: Session, event_id: int) -> DrEventStory | None:
    """The event with its transitions and samples, oldest first; None if not recorded."""
    with ledger_errors(f"reading the story of DR event {event_id}"):
        row = session.get(DrEvent, event_id)
        if row is None:
            return None
        transitions = session.scalars(
            select(DrEventTransition)
            .where(DrEventTransition.dr_event_id == event_id)
            .order_by(DrEventTransition.id)  # the order they were seen in
        )
        samples = session.scalars(
            select(DrEventSample)
            .where(DrEventSample.dr_event_id == event_id)
            .order_by(DrEventSample.sampled_at)
        )
        return DrEventStory(
            event=dr_event_record(row),
            transitions=tuple(transition_record(t) for t in transitions),
            samples=tuple(sample_record(s) for s in samples),
        )


def dr_event_named(session: Session, k8s_name: str) -> DrEventRecord | None:
    """The event whose DemandResponseEvent object is ``k8s_name``, if recorded."""
    name = validate.text("k8s_name", k8s_name, max_len=vocab.NAME_MAX)
    with ledger_errors(f"reading DR event {name}"):
        row = session.scalars(select(DrEvent).where(DrEvent.k8s_name == name)).one_or_none()
        return None if row is None else dr_event_record(row)


def record_dr_report(
    session: Session, k8s_name: str, *, state: str, detail: str, at: datetime
) -> DrEventRecord | None:
    """Note how the report of the event's outcome went (Sent or Refused); None when the ledger
    has no event of that object's name. The detail is cut to 4096 characters."""
    name = validate.text("k8s_name", k8s_name, max_len=vocab.NAME_MAX)
    report_state = validate.one_of("report_state", state, vocab.DR_REPORT_STATES)
    when = validate.aware("at", at)
    with ledger_errors(f"recording the report of DR event {name}"):
        row = session.scalars(select(DrEvent).where(DrEvent.k8s_name == name)).one_or_none()
        if row is None:
            return None
        row.report_state = report_state
        row.reported_at = when
        row.report_detail = detail[:4096]
        row.updated_at = when
        session.flush()
        return dr_event_record(row)

"""Signals, DR events and decisions against a real PostgreSQL: idempotent, race-safe, bounded."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy.exc
from sqlalchemy import Table, func, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.devenv import procs
from orchestrator.errors import LedgerError
from orchestrator.ledger.db import make_engine, session_factory
from orchestrator.ledger.decision_repo import decision_history, record_decision
from orchestrator.ledger.grid_repo import (
    get_dr_event,
    mark_signal_processed,
    record_signal,
    set_dr_event_state,
    upsert_dr_event,
)
from orchestrator.ledger.models import Base, GridSignal
from orchestrator.ledger.records import CandidateScore

T0 = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
TERMS = {"energy_cost": 0.4, "peak": 0.3, "green": 0.1, "latency": 0.1, "capacity": 0.1}


def signal(**overrides: Any) -> dict[str, Any]:
    """Arguments of a valid ``record_signal`` call, with ``overrides``."""
    return {
        "source": "tou:shanghai",
        "external_id": "tariff-2026-07",
        "zone": "shanghai",
        "kind": "price",
        "interval_start": T0,
        "interval_end": T0 + timedelta(hours=1),
        "value": Decimal("1.234567"),
        "unit": "CNY/kWh",
        "payload": {"price": 1.234567, "tier": "peak"},
    } | overrides


def dr_event(**overrides: Any) -> dict[str, Any]:
    """Arguments of a valid ``upsert_dr_event`` call, with ``overrides``."""
    return {
        "source": "openadr:vtn-1",
        "external_id": "evt-42",
        "zone": "shanghai",
        "kind": "shed",
        "target_kw": Decimal("500"),
        "window_start": T0,
        "window_end": T0 + timedelta(hours=2),
        "response_deadline_seconds": 900,
    } | overrides


def decision(**overrides: Any) -> dict[str, Any]:
    """Arguments of a valid ``record_decision`` call, with ``overrides``."""
    return {
        "decided_at": T0,
        "namespace": "inference",
        "workload": "llm",
        "zone": "shanghai",
        "action": "hold",
        "reason": "prices are flat",
        "chosen_cluster": None,
        "candidates": [],
    } | overrides


def rows(session: Session, table: type[Base] | Table) -> int:
    """How many rows ``table`` holds, as this session sees it."""
    return session.execute(select(func.count()).select_from(table)).scalar_one()


def assert_ledger_empty(session: Session) -> None:
    """No ledger table holds a row, as this session sees it."""
    counts = {name: rows(session, table) for name, table in Base.metadata.tables.items()}
    assert counts == dict.fromkeys(Base.metadata.tables, 0)


# Signals


def test_recording_a_signal_twice_keeps_one_row(session: Session) -> None:
    """The same source, external id and interval start is one row, and the repeat gets its id."""
    first = record_signal(session, **signal())
    again = record_signal(session, **signal(value=Decimal("9"), payload={"changed": True}))
    assert first[1] is True
    assert again == (first[0], False)
    stored = session.get_one(GridSignal, first[0])
    assert (stored.value, stored.payload) == (
        Decimal("1.234567"),
        {"price": 1.234567, "tier": "peak"},
    )
    assert rows(session, GridSignal) == 1


def test_a_new_interval_of_the_same_signal_is_a_new_row(session: Session) -> None:
    """A different interval start under the same source and external id is a second row."""
    first, _ = record_signal(session, **signal())
    later, created = record_signal(
        session, **signal(interval_start=T0 + timedelta(hours=1), interval_end=None)
    )
    assert created is True
    assert later != first
    assert rows(session, GridSignal) == 2


def race(factory: sessionmaker[Session], external_id: str) -> list[tuple[int, bool]]:
    """Two threads, each on its own connection, record the same signal from one start line."""
    start_line = threading.Barrier(2, timeout=10)
    results: list[tuple[int, bool]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def write() -> None:
        try:
            with factory.begin() as session:
                session.execute(text("SELECT 1"))  # hold a connection before the start line
                start_line.wait()
                result = record_signal(session, **signal(external_id=external_id))
            with lock:
                results.append(result)
        except BaseException as exc:  # handed to the main thread below
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    return results


def test_racing_connections_record_a_signal_once(factory: sessionmaker[Session]) -> None:
    """Two connections recording the same signal at the same moment get one row and one id."""
    for round_ in range(10):
        results = race(factory, f"race-{round_}")
        assert len({signal_id for signal_id, _ in results}) == 1
        assert sorted(created for _, created in results) == [False, True]
    with factory() as session:
        assert rows(session, GridSignal) == 10


def test_a_writer_blocked_by_an_uncommitted_twin_gets_the_twin_id(
    factory: sessionmaker[Session],
) -> None:
    """A second writer that waits on the first's uncommitted row ends with the first's id."""
    inserted = threading.Barrier(2, timeout=10)
    results: dict[str, tuple[int, bool]] = {}
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with factory.begin() as session:
                results["first"] = record_signal(session, **signal())
                inserted.wait()
                session.execute(text("SELECT pg_sleep(0.3)"))  # the twin is now blocked on us
        except BaseException as exc:
            errors.append(exc)

    def second() -> None:
        try:
            inserted.wait()
            with factory.begin() as session:
                results["second"] = record_signal(session, **signal())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert results["second"] == (results["first"][0], False)
    assert results["first"][1] is True


def test_marking_a_signal_processed_sets_the_time(session: Session) -> None:
    """mark_signal_processed stamps processed_at; an unknown id is a LedgerError."""
    signal_id, _ = record_signal(session, **signal())
    mark_signal_processed(session, signal_id=signal_id, processed_at=T0 + timedelta(minutes=5))
    assert session.get_one(GridSignal, signal_id).processed_at == T0 + timedelta(minutes=5)
    with pytest.raises(LedgerError, match="no signal with id 999"):
        mark_signal_processed(session, signal_id=999, processed_at=T0)


# Demand-response events and decisions


def test_upserting_a_dr_event_twice_keeps_one_row_and_revises_it(session: Session) -> None:
    """A revised event updates its target and window but not the response's state."""
    event_id, created = upsert_dr_event(session, **dr_event())
    set_dr_event_state(session, event_id=event_id, state="Active")
    revised = upsert_dr_event(session, **dr_event(target_kw=750, k8s_name="evt-42"))
    assert created is True
    assert revised == (event_id, False)
    stored = get_dr_event(session, source="openadr:vtn-1", external_id="evt-42")
    assert stored is not None
    assert (stored.target_kw, stored.state, stored.k8s_name) == (
        Decimal("750.000"),
        "Active",
        "evt-42",
    )


def test_setting_a_dr_event_state_records_the_response(session: Session) -> None:
    """set_dr_event_state records state, achieved kW and response time; unknown ids fail."""
    event_id, _ = upsert_dr_event(session, **dr_event())
    met = set_dr_event_state(
        session, event_id=event_id, state="Met", achieved_kw=Decimal("512.25"), responded_at=T0
    )
    assert (met.state, met.achieved_kw, met.responded_at) == ("Met", Decimal("512.250"), T0)
    with pytest.raises(LedgerError, match="no DR event with id 4242"):
        set_dr_event_state(session, event_id=4242, state="Ended")


def test_a_decision_comes_back_as_written(session: Session) -> None:
    """A decision's fields and candidate scores read back unchanged."""
    candidates = [
        CandidateScore(cluster="ningxia", total=0.82, terms=TERMS),
        CandidateScore(cluster="hubei", total=0.61, terms=TERMS | {"green": 0.0}),
    ]
    uid = uuid.uuid4()
    decision_id = record_decision(
        session,
        decided_at=T0,
        namespace="inference",
        workload="llm",
        zone="shanghai",
        action="move",
        reason="Shanghai peak level 3; ningxia is 0.21 cheaper",
        chosen_cluster="ningxia",
        candidates=candidates,
        plan_id="plan-7",
        migration_uid=str(uid),
    )
    [stored] = decision_history(session, workload="llm")
    assert stored.id == decision_id
    assert stored.candidates == tuple(candidates)
    assert (stored.action, stored.chosen_cluster, stored.plan_id, stored.migration_uid) == (
        "move",
        "ningxia",
        "plan-7",
        uid,
    )


# Refusals


BAD_INPUT = [
    pytest.param(record_signal, signal(kind="wind"), "kind must be one of price", id="kind"),
    pytest.param(record_signal, signal(source="s" * 254), "at most 253 char", id="long-source"),
    pytest.param(
        record_signal, signal(interval_start=datetime(2026, 7, 1)), "timezone-aware", id="naive"
    ),
    pytest.param(record_signal, signal(interval_end=T0), "must be after", id="empty-interval"),
    pytest.param(
        record_signal, signal(payload={"x": float("nan")}), "not representable", id="nan-payload"
    ),
    pytest.param(
        record_signal, signal(payload={"x": "y" * 70000}), "at most 65536 bytes", id="huge-payload"
    ),
    pytest.param(record_signal, signal(value=10**12), "less than 10000", id="huge-value"),
    pytest.param(upsert_dr_event, dr_event(kind="boost"), "one of shed, import_cap", id="dr-kind"),
    pytest.param(upsert_dr_event, dr_event(target_kw=0), "must be positive", id="zero-target"),
    pytest.param(
        set_dr_event_state, {"event_id": 1, "state": "Done"}, "state must be one of", id="state"
    ),
    pytest.param(record_decision, decision(action="panic"), "one of move, hold", id="action"),
    pytest.param(record_decision, decision(reason="r" * 2001), "at most 2000", id="long-reason"),
    pytest.param(
        record_decision, decision(action="move"), "needs a chosen_cluster", id="move-nowhere"
    ),
]


@pytest.mark.parametrize(("write", "arguments", "message"), BAD_INPUT)
def test_bad_input_is_refused_before_anything_is_written(
    session: Session, write: Callable[..., object], arguments: dict[str, Any], message: str
) -> None:
    """Unknown names, oversized strings and impossible values raise ValueError; no row appears."""
    with pytest.raises(ValueError, match=message):
        write(session, **arguments)
    assert_ledger_empty(session)


@pytest.mark.parametrize(
    ("table", "column", "constraint"),
    [
        ("grid_signals", "kind", "ck_grid_signals_kind"),
        ("dr_events", "state", "ck_dr_events_state"),
        ("decisions", "action", "ck_decisions_action"),
    ],
)
def test_the_database_itself_refuses_names_outside_the_closed_sets(
    session: Session, table: str, column: str, constraint: str
) -> None:
    """Past the Python checks, the CHECK constraints refuse an unknown kind, state or action."""
    record_signal(session, **signal())
    upsert_dr_event(session, **dr_event())
    record_decision(session, **decision())
    with pytest.raises(sqlalchemy.exc.IntegrityError, match=constraint):
        session.execute(update(Base.metadata.tables[table]).values({column: "Bogus"}))


def test_an_unreachable_database_is_a_ledger_error() -> None:
    """With nothing listening, a write fails as LedgerError and the password is not shown."""
    url = f"postgresql+psycopg://gridshift:s3cret-pw@127.0.0.1:{procs.free_port()}/gridshift"
    engine = make_engine(url, connect_timeout_seconds=2)
    try:
        with session_factory(engine)() as session, pytest.raises(LedgerError) as raised:
            record_signal(session, **signal())
    finally:
        engine.dispose()
    assert "recording signal tou:shanghai tariff-2026-07 failed" in str(raised.value)
    assert "s3cret-pw" not in str(raised.value)
    assert isinstance(raised.value.__cause__, sqlalchemy.exc.OperationalError)

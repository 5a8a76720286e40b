"""The ledger's one door against a real PostgreSQL: transactions, plain records, one error tree."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.devenv.procs import free_port
from orchestrator.errors import LedgerError, LedgerInputError
from orchestrator.ledger.db import transaction
from orchestrator.ledger.handle import Ledger
from orchestrator.ledger.records import (
    DrOrderInput,
    MigrationSnapshot,
    PhaseSpan,
    SignalInput,
)

T0 = datetime(2026, 7, 15, 6, 0, tzinfo=UTC)


@pytest.fixture
def door(ledger_door: Ledger, factory: sessionmaker[Session]) -> Ledger:
    """The door on a ledger emptied for this test."""
    return ledger_door


def signal(external_id: str, *, kind: str = "price", value: float | None = 1.2) -> SignalInput:
    return SignalInput(
        source="native:sgcc-sh",
        external_id=external_id,
        zone="shanghai",
        kind=kind,
        interval_start=T0,
        interval_end=T0 + timedelta(hours=1),
        value=value,
        unit="CNY/kWh",
        payload={"id": external_id},
    )


def order(**changes: object) -> DrOrderInput:
    fields: dict[str, object] = {
        "source": "native:sgcc-sh",
        "external_id": "shanghai/dr-0042",
        "zone": "shanghai",
        "kind": "shed",
        "target_kw": 500.0,
        "window_start": T0,
        "window_end": T0 + timedelta(hours=2),
        "response_deadline_seconds": 180,
        "k8s_name": "shanghai-dr-0042-abc",
    }
    return DrOrderInput(**{**fields, **changes})  # type: ignore[arg-type]


def test_a_failure_at_commit_is_a_ledger_error(
    engine: Engine, factory: sessionmaker[Session]
) -> None:
    """A constraint PostgreSQL checks only at COMMIT fails the transaction as LedgerError."""

    def deferred_violation() -> None:
        with transaction(factory, "committing a deferred row") as session:
            session.execute(text("CREATE TEMP TABLE parent (id int PRIMARY KEY) ON COMMIT DROP"))
            session.execute(
                text(
                    "CREATE TEMP TABLE child (parent int REFERENCES parent "
                    "DEFERRABLE INITIALLY DEFERRED) ON COMMIT DROP"
                )
            )
            session.execute(text("INSERT INTO child VALUES (7)"))  # accepted until COMMIT

    with pytest.raises(LedgerError, match="committing a deferred row failed") as raised:
        deferred_violation()
    assert "violates foreign key constraint" in str(raised.value)


def test_signals_are_recorded_all_or_none(door: Ledger) -> None:
    """A batch with one refused signal records nothing; the refusal is a LedgerInputError."""
    with pytest.raises(LedgerInputError, match="kind must be one of") as raised:
        door.record_signals([signal("ok-1"), signal("bad-1", kind="weather")])
    assert isinstance(raised.value, ValueError)
    assert door.zone_signals("shanghai", since=T0, until=T0 + timedelta(hours=1)) == []

    first = door.record_signals([signal("ok-1"), signal("ok-2")])
    again = door.record_signals([signal("ok-1")])
    assert [created for _, created in first] == [True, True]
    assert again == [(first[0][0], False)]
    rows = door.zone_signals("shanghai", since=T0, until=T0 + timedelta(minutes=1))
    assert [r.external_id for r in rows] == ["ok-1", "ok-2"]
    door.mark_signals_processed([rows[0].id], at=T0)
    (done, waiting) = door.zone_signals("shanghai", since=T0, until=T0 + timedelta(hours=1))
    assert (done.processed_at, waiting.processed_at) == (T0, None)


def test_a_cancelled_order_stays_cancelled(door: Ledger) -> None:
    """Orders revise the event; a cancel ends it, and a later revision does not revive it."""
    assert door.apply_dr_order(order(cancelled=True), at=T0) is None  # never recorded
    first = door.apply_dr_order(order(), at=T0)
    assert first is not None
    assert (first.state, first.target_kw) == ("Scheduled", 500)
    revised = door.apply_dr_order(order(target_kw=600.0), at=T0)
    assert revised is not None
    assert (revised.id, revised.target_kw) == (first.id, 600)
    assert [e.id for e in door.dr_events_in_force("shanghai", at=T0)] == [first.id]
    cancelled = door.apply_dr_order(order(cancelled=True), at=T0)
    assert cancelled is not None
    assert cancelled.state == "Cancelled"
    later = door.apply_dr_order(order(target_kw=700.0), at=T0)
    assert later is not None
    assert (later.state, later.target_kw) == ("Cancelled", 600)
    assert door.dr_events_in_force("shanghai", at=T0) == []
    states = door.dr_event_story("shanghai-dr-0042-abc")
    assert states is not None
    assert [t.state for t in states.transitions] == ["Scheduled", "Cancelled"]


def test_past_events_never_crowd_out_the_ones_in_force(door: Ledger) -> None:
    """Five hundred and one old orders, then one now: the zone's events in force are the one."""
    for day in range(501):
        start = T0 - timedelta(days=day + 1)
        door.apply_dr_order(
            order(
                external_id=f"shanghai/old-{day}",
                k8s_name=f"shanghai-old-{day}",
                window_start=start,
                window_end=start + timedelta(hours=2),
            ),
            at=T0,
        )
    now = door.apply_dr_order(order(), at=T0)
    assert now is not None
    assert [e.id for e in door.dr_events_in_force("shanghai", at=T0 + timedelta(minutes=1))] == [
        now.id
    ]


def test_a_migration_snapshot_is_written_once_however_often_it_is_sent(door: Ledger) -> None:
    """The engine sends the same snapshot after every phase; the ledger keeps one row of each."""
    uid = str(uuid.uuid4())
    phases = (
        PhaseSpan("Pending", T0, T0 + timedelta(seconds=1)),
        PhaseSpan("Preflight", T0 + timedelta(seconds=1)),
    )
    snapshot = MigrationSnapshot(
        uid=uid,
        namespace="inference",
        name="chat-72b-demandresponse-x1",
        workload="chat-72b",
        from_cluster="shanghai",
        to_cluster="hubei",
        reason="shed",
        trigger="DemandResponse",
        deadline_seconds=180,
        started_at=T0,
        replicas=2,
        kw_moved=0.0,
        phases=phases,
    )
    door.record(snapshot)
    door.record(snapshot)
    (found,) = door.migration_history(namespace="inference")
    assert (str(found.uid), found.phase, [p.phase for p in found.phases]) == (
        uid,
        "Preflight",
        ["Pending", "Preflight"],
    )


def test_a_move_refused_at_commit_is_a_ledger_error_and_leaves_no_row(
    door: Ledger, engine: Engine
) -> None:
    """A migration's snapshot whose COMMIT PostgreSQL refuses leaves the door as LedgerError
    (what the recorder retries), never a raw SQLAlchemy error, and writes nothing."""
    with engine.begin() as connection:
        connection.execute(
            text(
                "CREATE OR REPLACE FUNCTION refuse_at_commit() RETURNS trigger LANGUAGE plpgsql "
                "AS $$ BEGIN RAISE EXCEPTION 'refused at COMMIT'; END $$"
            )
        )
        connection.execute(
            text(
                "CREATE CONSTRAINT TRIGGER refuse_at_commit AFTER INSERT ON migrations "
                "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
                "WHEN (NEW.name LIKE 'commit-fails-%') EXECUTE FUNCTION refuse_at_commit()"
            )
        )
    snapshot = MigrationSnapshot(
        uid=str(uuid.uuid4()),
        namespace="inference",
        name="commit-fails-1",
        workload="chat-72b",
        from_cluster="shanghai",
        to_cluster="hubei",
        reason="shed",
        trigger="DemandResponse",
        deadline_seconds=180,
        started_at=T0,
        replicas=2,
        kw_moved=0.0,
        phases=(PhaseSpan("Pending", T0),),
    )
    try:
        with pytest.raises(LedgerError, match="refused at COMMIT") as raised:
            door.record(snapshot)
    finally:
        with engine.begin() as connection:
            connection.execute(text("DROP TRIGGER IF EXISTS refuse_at_commit ON migrations"))
            connection.execute(text("DROP FUNCTION IF EXISTS refuse_at_commit()"))
    assert "recording migration inference/commit-fails-1 failed" in str(raised.value)
    assert door.migration_history(namespace="inference") == []


def test_an_unreachable_ledger_raises_ledger_error_from_every_door() -> None:
    """Nobody listening: ping, reads and writes all fail as LedgerError, naming what failed."""
    door = Ledger(
        f"postgresql+psycopg://gridshift:none@127.0.0.1:{free_port()}/none",
        connect_timeout_seconds=2,
    )
    try:
        with pytest.raises(LedgerError, match="reaching the ledger failed"):
            door.ping()
        with pytest.raises(LedgerError, match="recording signal native:sgcc-sh lost failed"):
            door.record_signals([signal("lost")])
        with pytest.raises(LedgerError, match="reading migration history failed"):
            door.migration_history()
    finally:
        door.close()

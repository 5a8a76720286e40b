"""Migrations and their phases against a real PostgreSQL: keyed by uid, written once, bounded."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy.exc
from sqlalchemy import Table, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.errors import LedgerError
from orchestrator.ledger.migration_repo import (
    finish_migration,
    get_migration,
    record_migration_start,
    record_phase,
)
from orchestrator.ledger.models import Base, Migration, MigrationPhase

T0 = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)


def migration(**overrides: Any) -> dict[str, Any]:
    """Arguments of a valid ``record_migration_start`` call, with ``overrides``."""
    return {
        "uid": uuid.uuid4(),
        "namespace": "inference",
        "name": "llm-to-ningxia",
        "workload": "llm",
        "from_cluster": "shanghai",
        "to_cluster": "ningxia",
        "reason": "Shanghai peak level 3",
        "trigger": "PeakLevel",
        "deadline_seconds": 600,
        "started_at": T0,
        "replicas": 4,
    } | overrides


def rows(session: Session, table: type[Base] | Table) -> int:
    """How many rows ``table`` holds, as this session sees it."""
    return session.execute(select(func.count()).select_from(table)).scalar_one()


def assert_ledger_empty(session: Session) -> None:
    """No ledger table holds a row, as this session sees it."""
    counts = {name: rows(session, table) for name, table in Base.metadata.tables.items()}
    assert counts == dict.fromkeys(Base.metadata.tables, 0)


def test_recording_a_migration_start_twice_keeps_one_row(session: Session) -> None:
    """The second start with the same uid changes nothing and reports it created nothing."""
    args = migration()
    assert record_migration_start(session, **args) is True
    assert record_migration_start(session, **(args | {"reason": "something else"})) is False
    stored = get_migration(session, args["uid"])
    assert stored is not None
    assert (stored.reason, stored.phase, stored.outcome) == (
        "Shanghai peak level 3",
        "Pending",
        None,
    )
    assert rows(session, Migration) == 1


def test_a_migration_may_start_without_a_reason(session: Session) -> None:
    """A Migration created by hand with no reason message is still recorded."""
    uid = migration()["uid"]
    assert record_migration_start(session, **migration(uid=uid, reason="")) is True
    stored = get_migration(session, uid)
    assert stored is not None
    assert stored.reason == ""


def test_a_migration_uid_may_be_given_as_a_string(session: Session) -> None:
    """A Kubernetes uid string and the same UUID name the same migration."""
    uid = uuid.uuid4()
    assert record_migration_start(session, **migration(uid=str(uid))) is True
    assert record_migration_start(session, **migration(uid=uid)) is False
    assert get_migration(session, str(uid)) is not None


def test_recording_a_phase_twice_keeps_one_row_and_updates_it(session: Session) -> None:
    """A repeated phase is one row: the first start stays, finished_at and message update."""
    uid = migration()["uid"]
    record_migration_start(session, **migration(uid=uid))
    record_phase(session, migration_uid=uid, phase="Provisioning", started_at=T0)
    done = record_phase(
        session,
        migration_uid=uid,
        phase="Provisioning",
        started_at=T0 + timedelta(seconds=30),
        finished_at=T0 + timedelta(seconds=40),
        message="4 replicas scheduled on ningxia",
    )
    again = record_phase(session, migration_uid=uid, phase="Provisioning", started_at=T0)
    assert done.started_at == T0
    assert done.finished_at == T0 + timedelta(seconds=40)
    assert again == done
    assert rows(session, MigrationPhase) == 1


def test_the_current_phase_is_the_one_that_started_last(session: Session) -> None:
    """Phases recorded out of order still leave the latest-started phase current."""
    uid = migration()["uid"]
    record_migration_start(session, **migration(uid=uid))
    record_phase(
        session, migration_uid=uid, phase="WarmingUp", started_at=T0 + timedelta(seconds=20)
    )
    record_phase(session, migration_uid=uid, phase="Preflight", started_at=T0)
    record_phase(
        session, migration_uid=uid, phase="Provisioning", started_at=T0 + timedelta(seconds=5)
    )
    stored = get_migration(session, uid)
    assert stored is not None
    assert stored.phase == "WarmingUp"
    assert [p.phase for p in stored.phases] == ["Preflight", "Provisioning", "WarmingUp"]


def test_finishing_a_migration_records_its_outcome_and_closes_open_phases(session: Session) -> None:
    """finish_migration sets outcome, phase and deadline_met, and ends phases still open."""
    uid = migration()["uid"]
    record_migration_start(session, **migration(uid=uid))
    record_phase(
        session, migration_uid=uid, phase="Draining", started_at=T0 + timedelta(seconds=50)
    )
    end = T0 + timedelta(seconds=70)
    finished = finish_migration(
        session, uid=uid, outcome="Completed", finished_at=end, deadline_met=True, kw_moved=320.5
    )
    assert (finished.outcome, finished.phase, finished.deadline_met) == (
        "Completed",
        "Completed",
        True,
    )
    assert finished.kw_moved == Decimal("320.500")
    assert finished.duration_seconds == 70.0
    assert [(p.phase, p.finished_at) for p in finished.phases] == [("Draining", end)]
    again = finish_migration(
        session, uid=uid, outcome="Completed", finished_at=end, deadline_met=True
    )
    assert again == finished
    record_phase(session, migration_uid=uid, phase="Releasing", started_at=end)
    current = get_migration(session, uid)
    assert current is not None
    assert current.phase == "Completed"


def test_a_finished_migration_keeps_its_outcome(session: Session) -> None:
    """A second, different outcome for a finished migration is refused."""
    uid = migration()["uid"]
    record_migration_start(session, **migration(uid=uid))
    finish_migration(session, uid=uid, outcome="RolledBack", finished_at=T0, deadline_met=False)
    with pytest.raises(LedgerError, match="already finished as RolledBack; refusing Completed"):
        finish_migration(session, uid=uid, outcome="Completed", finished_at=T0, deadline_met=True)


def test_phases_and_outcomes_need_a_recorded_migration(session: Session) -> None:
    """Recording a phase or an outcome of an unknown uid is a LedgerError that says why."""
    unknown = uuid.uuid4()
    with pytest.raises(LedgerError, match="record its start first"):
        record_phase(session, migration_uid=unknown, phase="Preflight", started_at=T0)
    with pytest.raises(LedgerError, match="record its start first"):
        finish_migration(session, uid=unknown, outcome="Failed", finished_at=T0, deadline_met=False)
    assert get_migration(session, unknown) is None


# Refusals


def phase(**overrides: Any) -> dict[str, Any]:
    """Arguments of a ``record_phase`` call for an unrecorded migration, with ``overrides``."""
    return {"migration_uid": uuid.uuid4(), "phase": "Preflight", "started_at": T0} | overrides


BAD_INPUT = [
    pytest.param(record_migration_start, migration(trigger="Whim"), "one of Manual", id="trigger"),
    pytest.param(
        record_migration_start, migration(namespace="n" * 64), "at most 63", id="long-namespace"
    ),
    pytest.param(
        record_migration_start, migration(to_cluster="shanghai"), "must differ", id="same-cluster"
    ),
    pytest.param(record_migration_start, migration(uid="llm"), "must be a UUID", id="bad-uid"),
    pytest.param(
        record_migration_start, migration(replicas=-1), "between 0 and 100000", id="replicas"
    ),
    pytest.param(record_phase, phase(phase="Teleporting"), "one of Pending", id="phase"),
    pytest.param(
        record_phase, phase(finished_at=T0 - timedelta(1)), "not be before", id="phase-backwards"
    ),
    pytest.param(
        finish_migration,
        {"uid": uuid.uuid4(), "outcome": "Pending", "finished_at": T0, "deadline_met": True},
        "outcome must be one of Completed, RolledBack, Failed",
        id="outcome",
    ),
]


@pytest.mark.parametrize(("write", "arguments", "message"), BAD_INPUT)
def test_bad_input_is_refused_before_anything_is_written(
    session: Session, write: Callable[..., object], arguments: dict[str, Any], message: str
) -> None:
    """Unknown phases, triggers and outcomes, oversized or impossible values: ValueError, no row."""
    with pytest.raises(ValueError, match=message):
        write(session, **arguments)
    assert_ledger_empty(session)


@pytest.mark.parametrize(
    ("table", "constraint"),
    [("migrations", "ck_migrations_phase"), ("migration_phases", "ck_migration_phases_phase")],
)
def test_the_database_itself_refuses_unknown_phases(
    session: Session, table: str, constraint: str
) -> None:
    """Past the Python checks, the CHECK constraints refuse a phase outside the set."""
    uid = migration()["uid"]
    record_migration_start(session, **migration(uid=uid))
    record_phase(session, migration_uid=uid, phase="Preflight", started_at=T0)
    with pytest.raises(sqlalchemy.exc.IntegrityError, match=constraint):
        session.execute(update(Base.metadata.tables[table]).values(phase="Bogus"))


def test_database_refusals_surface_as_ledger_errors(session: Session) -> None:
    """A foreign-key violation leaves the repository as LedgerError, chained to the cause."""
    with pytest.raises(LedgerError, match="fk_migrations_dr_event_id_dr_events") as raised:
        record_migration_start(session, **migration(dr_event_id=777))
    assert isinstance(raised.value.__cause__, sqlalchemy.exc.IntegrityError)


def test_repository_functions_never_commit(factory: sessionmaker[Session]) -> None:
    """Rolling back the caller's transaction undoes every write the repository made."""
    uid = migration()["uid"]
    with factory() as session:
        record_migration_start(session, **migration(uid=uid))
        record_phase(session, migration_uid=uid, phase="Preflight", started_at=T0)
        session.rollback()
    with factory() as session:
        assert_ledger_empty(session)
        assert get_migration(session, uid) is None

"""Ledger queries return what was written, filtered by workload, cluster, zone and time range.

Each test writes rows inside and outside the asked-for range; the ones outside must not come
back. Ranges are half-open: ``since`` is included, ``until`` is not.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from orchestrator.ledger.decision_repo import decision_history, record_decision
from orchestrator.ledger.grid_repo import (
    dr_events_for_zone,
    record_signal,
    set_dr_event_state,
    signal_history,
    upsert_dr_event,
)
from orchestrator.ledger.migration_repo import (
    finish_migration,
    migration_history,
    recent_durations,
    record_migration_start,
    record_phase,
)

T0 = datetime(2026, 7, 1, 0, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def start(
    session: Session,
    *,
    workload: str,
    started_at: datetime,
    from_cluster: str = "shanghai",
    to_cluster: str = "ningxia",
    namespace: str = "inference",
) -> uuid.UUID:
    """Record a migration's start and return its uid."""
    uid = uuid.uuid4()
    record_migration_start(
        session,
        uid=uid,
        namespace=namespace,
        name=f"{workload}-{uid.hex[:6]}",
        workload=workload,
        from_cluster=from_cluster,
        to_cluster=to_cluster,
        reason="peak",
        trigger="PeakLevel",
        deadline_seconds=600,
        started_at=started_at,
        replicas=2,
    )
    return uid


def finish(
    session: Session, uid: uuid.UUID, *, after: timedelta, outcome: str = "Completed"
) -> None:
    """Finish migration ``uid`` ``after`` its start."""
    [record] = [m for m in migration_history(session, limit=1000) if m.uid == uid]
    finish_migration(
        session,
        uid=uid,
        outcome=outcome,
        finished_at=record.started_at + after,
        deadline_met=outcome == "Completed",
    )


def test_migration_history_filters_by_workload_and_time(session: Session) -> None:
    """Only the workload's moves started in [since, until) come back, newest first."""
    before = start(session, workload="llm", started_at=T0 - HOUR)
    at_since = start(session, workload="llm", started_at=T0)
    inside = start(session, workload="llm", started_at=T0 + HOUR)
    start(session, workload="llm", started_at=T0 + 2 * HOUR)  # at until: excluded
    start(session, workload="asr", started_at=T0 + HOUR)  # another workload
    found = migration_history(session, workload="llm", since=T0, until=T0 + 2 * HOUR)
    assert [m.uid for m in found] == [inside, at_since]
    everything = migration_history(session, workload="llm")
    assert len(everything) == 4
    assert everything[-1].uid == before


def test_migration_history_matches_a_cluster_at_either_end(session: Session) -> None:
    """A cluster filter finds moves out of it and moves into it, and no others."""
    out_of = start(session, workload="a", started_at=T0, from_cluster="hubei", to_cluster="ningxia")
    into = start(session, workload="b", started_at=T0 + HOUR, to_cluster="hubei")
    start(session, workload="c", started_at=T0 + 2 * HOUR)  # shanghai -> ningxia
    found = migration_history(session, cluster="hubei")
    assert [m.uid for m in found] == [into, out_of]


def test_migration_history_filters_by_namespace_and_limits(session: Session) -> None:
    """The namespace filter and the limit both apply; phases come with each migration."""
    for hour in range(3):
        start(session, workload="llm", started_at=T0 + hour * HOUR)
    start(session, workload="llm", started_at=T0 + 5 * HOUR, namespace="batch")
    uid = start(session, workload="llm", started_at=T0 + 4 * HOUR)
    record_phase(session, migration_uid=uid, phase="Preflight", started_at=T0 + 4 * HOUR)
    [newest] = migration_history(session, namespace="inference", limit=1)
    assert newest.uid == uid
    assert [p.phase for p in newest.phases] == ["Preflight"]
    assert len(migration_history(session, namespace="inference")) == 4


def test_recent_durations_read_the_whole_fleet_at_once(session: Session) -> None:
    """Per workload, its Completed moves since the cut-off, newest first, at most N each."""
    for hour, seconds in ((0, 90), (1, 120), (2, 60)):
        finish(
            session,
            start(session, workload="llm", started_at=T0 + hour * HOUR),
            after=timedelta(seconds=seconds),
        )
    finish(
        session,
        start(session, workload="llm", started_at=T0 + 3 * HOUR),
        after=timedelta(seconds=999),
        outcome="RolledBack",
    )
    finish(session, start(session, workload="asr", started_at=T0), after=timedelta(seconds=5))
    assert recent_durations(session, since=T0, per_workload=2) == {
        ("inference", "asr"): [5.0],
        ("inference", "llm"): [60.0, 120.0],
    }
    assert recent_durations(session, since=T0 + HOUR, per_workload=10) == {
        ("inference", "llm"): [60.0, 120.0]
    }


def test_signal_history_filters_by_zone_time_and_kind(session: Session) -> None:
    """Signals of the zone that start in [since, until) come back oldest first, by kind if asked."""

    def signal(zone: str, kind: str, at: datetime, value: str) -> int:
        signal_id, _ = record_signal(
            session,
            source=f"native:sgcc-{zone}",
            external_id=f"{kind}-{at.isoformat()}",
            zone=zone,
            kind=kind,
            interval_start=at,
            interval_end=at + HOUR,
            value=Decimal(value),
            unit="level" if kind == "peak_level" else "CNY/kWh",
            payload={"value": value},
        )
        return signal_id

    signal("shanghai", "price", T0 - HOUR, "0.9")  # before since
    price = signal("shanghai", "price", T0, "1.1")
    peak = signal("shanghai", "peak_level", T0 + HOUR, "3")
    signal("shanghai", "price", T0 + 3 * HOUR, "1.3")  # at until
    signal("hubei", "price", T0 + HOUR, "0.5")  # another zone
    found = signal_history(session, zone="shanghai", since=T0, until=T0 + 3 * HOUR)
    assert [(s.id, s.kind, s.value) for s in found] == [
        (price, "price", Decimal("1.100000")),
        (peak, "peak_level", Decimal("3.000000")),
    ]
    assert found[0].payload == {"value": "1.1"}
    prices = signal_history(session, zone="shanghai", since=T0, until=T0 + 3 * HOUR, kind="price")
    assert [s.id for s in prices] == [price]


def test_decision_history_filters_by_workload_zone_and_time(session: Session) -> None:
    """Decisions come back newest first, filtered by workload, zone and [since, until)."""

    def decide(workload: str, zone: str | None, at: datetime) -> int:
        return record_decision(
            session,
            decided_at=at,
            namespace="inference",
            workload=workload,
            zone=zone,
            action="hold",
            reason="prices are flat",
            chosen_cluster=None,
            candidates=[],
        )

    decide("llm", "shanghai", T0 - HOUR)  # before since
    first = decide("llm", "shanghai", T0)
    second = decide("llm", None, T0 + HOUR)
    decide("asr", "shanghai", T0 + HOUR)  # another workload
    decide("llm", "hubei", T0 + 2 * HOUR)  # at until
    by_workload = decision_history(session, workload="llm", since=T0, until=T0 + 2 * HOUR)
    assert [d.id for d in by_workload] == [second, first]
    by_zone = decision_history(session, zone="shanghai", since=T0)
    assert [(d.workload, d.decided_at) for d in by_zone] == [("asr", T0 + HOUR), ("llm", T0)]


def test_dr_events_for_zone_filter_by_time_and_state(session: Session) -> None:
    """A zone's DR events whose window starts in [since, until) come back, in the given states."""

    def event(external_id: str, zone: str, at: datetime) -> int:
        event_id, _ = upsert_dr_event(
            session,
            source="openadr:vtn-1",
            external_id=external_id,
            zone=zone,
            kind="shed",
            target_kw=100,
            window_start=at,
            window_end=None,
            response_deadline_seconds=300,
        )
        return event_id

    event("old", "shanghai", T0 - HOUR)
    active = event("now", "shanghai", T0)
    scheduled = event("soon", "shanghai", T0 + HOUR)
    event("elsewhere", "hubei", T0)
    set_dr_event_state(session, event_id=active, state="Active")
    window = dr_events_for_zone(session, zone="shanghai", since=T0, until=T0 + 2 * HOUR)
    assert [e.id for e in window] == [active, scheduled]
    live = dr_events_for_zone(session, zone="shanghai", states=["Active"])
    assert [(e.external_id, e.state) for e in live] == [("now", "Active")]


def test_a_backwards_or_naive_range_is_refused(session: Session) -> None:
    """An until not after since, or a range bound without a timezone, is a ValueError."""
    with pytest.raises(ValueError, match=r"until \(.*\) must be after since"):
        migration_history(session, since=T0, until=T0)
    with pytest.raises(ValueError, match="since must be timezone-aware"):
        decision_history(session, since=datetime(2026, 7, 1))
    with pytest.raises(ValueError, match="limit must be between 1 and 10000"):
        migration_history(session, limit=0)

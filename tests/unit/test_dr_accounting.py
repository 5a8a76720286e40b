"""How a DemandResponseEvent's status follows what the fleet did: shed, Met, Missed, sticky."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orchestrator.api.drevent import DemandResponseEventSpec, DemandResponseEventStatus
from orchestrator.controller.drstatus import MoveForEvent, account, changed
from orchestrator.planner.model import Workload

pytestmark = pytest.mark.unit

T0 = datetime(2026, 7, 14, 19, 0, tzinfo=UTC)
ZONES = {"sh-1": "shanghai", "hb-1": "hubei", "nx-1": "ningxia"}


def spec(*, shed: float | None = 100.0, cap: float | None = None) -> DemandResponseEventSpec:
    window = {"start": T0.isoformat(), "end": (T0 + timedelta(hours=1)).isoformat()}
    body: dict[str, object] = {
        "zone": "shanghai",
        "window": window,
        "responseDeadlineSeconds": 180,
        "source": {"kind": "OpenADR", "eventID": "evt-1"},
    }
    if shed is not None:
        body["shedKW"] = shed
    if cap is not None:
        body["importCapKW"] = cap
    return DemandResponseEventSpec.model_validate(body)


def wl(name: str, kw: float, where: str, home: str = "sh-1") -> Workload:
    return Workload(
        namespace="ai", name=name, current_cluster=where, home_cluster=home, replicas=1,
        gpus_per_replica=1, kw=kw, policy="p",
    )  # fmt: skip


def run(
    workloads: list[Workload],
    now: datetime,
    status: DemandResponseEventStatus | None = None,
    *,
    event: DemandResponseEventSpec | None = None,
) -> DemandResponseEventStatus:
    return account(
        spec=event or spec(),
        status=status or DemandResponseEventStatus(),
        workloads=workloads,
        cluster_zones=ZONES,
        moves=[MoveForEvent("ai/m-1", T0 + timedelta(seconds=2))],
        in_flight_kw=0.0,
        now=now,
    )


def test_before_the_window_the_event_is_scheduled() -> None:
    """Nothing is owed before the start."""
    status = run([wl("a", 80, "sh-1")], T0 - timedelta(minutes=5))
    assert status.state == "Scheduled"
    assert status.missing_kw == 0


def test_shed_counts_home_workloads_running_elsewhere() -> None:
    """Moved-out workloads count; those still in the zone do not; Active until reached."""
    status = run([wl("a", 60, "hb-1"), wl("b", 80, "sh-1")], T0 + timedelta(seconds=60))
    assert (status.state, status.achieved_kw, status.missing_kw) == ("Active", 60, 40)
    assert status.responded_at == T0 + timedelta(seconds=2)
    assert status.migrations == ["ai/m-1"]


def test_met_by_the_deadline_and_stays_met() -> None:
    """Reaching the target in time is Met, with metAt; later changes keep the outcome."""
    met = run([wl("a", 60, "hb-1"), wl("b", 50, "nx-1")], T0 + timedelta(seconds=90))
    assert met.state == "Met"
    assert met.met_at == T0 + timedelta(seconds=90)
    assert [(c.type, c.status, c.reason) for c in met.conditions] == [("TargetMet", "True", "Met")]
    later = run([wl("a", 60, "sh-1"), wl("b", 50, "nx-1")], T0 + timedelta(seconds=400), met)
    assert later.state == "Met"
    assert later.met_at == met.met_at
    assert later.achieved_kw == 50


def test_missed_after_the_deadline_even_if_reached_later() -> None:
    """Past the response deadline without the target is Missed; a late success says so."""
    missed = run([wl("a", 60, "hb-1")], T0 + timedelta(seconds=181))
    assert missed.state == "Missed"
    assert missed.missing_kw == 40
    late = run([wl("a", 60, "hb-1"), wl("b", 50, "nx-1")], T0 + timedelta(seconds=300), missed)
    assert late.state == "Missed"
    assert "reached late" in late.message


def test_import_cap_is_met_when_the_zone_load_is_under_it() -> None:
    """For a cap, what remains in the zone must be at or under it."""
    event = spec(shed=None, cap=50)
    over = run([wl("a", 60, "sh-1"), wl("b", 30, "hb-1")], T0 + timedelta(seconds=10), event=event)
    assert over.state == "Active"
    assert over.missing_kw == 10
    under = run([wl("a", 40, "sh-1"), wl("b", 30, "hb-1")], T0 + timedelta(seconds=20), event=event)
    assert under.state == "Met"
    assert under.missing_kw == 0


def test_a_cancelled_event_is_left_alone() -> None:
    """The grid withdrew it: gridshift writes nothing more."""
    cancelled = DemandResponseEventStatus(state="Cancelled")
    assert run([wl("a", 60, "hb-1")], T0 + timedelta(seconds=60), cancelled) is cancelled


def test_only_real_changes_are_written() -> None:
    """The same facts a second later give no write."""
    first = run([wl("a", 60, "hb-1")], T0 + timedelta(seconds=60))
    again = run([wl("a", 60, "hb-1")], T0 + timedelta(seconds=61), first)
    assert not changed(first, again)
    moved = run([wl("a", 60, "hb-1"), wl("b", 50, "nx-1")], T0 + timedelta(seconds=62), first)
    assert changed(first, moved)


def test_the_status_is_final_once_the_window_closes() -> None:
    """Workloads going home after the window do not lower what the event achieved."""
    met = run([wl("a", 60, "hb-1"), wl("b", 50, "nx-1")], T0 + timedelta(seconds=90))
    after = run([wl("a", 60, "sh-1"), wl("b", 50, "sh-1")], T0 + timedelta(hours=2), met)
    assert after == met
    unanswered = run([wl("a", 10, "sh-1")], T0 + timedelta(hours=2))
    assert unanswered.state == "Missed"

"""Demand response: the asked kW is shed whenever the fleet can shed it, largest load first."""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.planner import Cluster, DemandResponse, Snapshot, Workload, Zone, plan
from tests.unit.test_planner_fleets import MINUTE, NOW, fleet, policy, workload

EPS = 1e-6


def _small_dr_fleet(seed: int) -> Snapshot:
    """At most 6 workloads, mostly in the ordered zone, on at most 4 tight clusters."""
    rng = random.Random(seed)  # noqa: S311  # test data, not secrets
    snapshot = fleet(seed, max_workloads=6, max_clusters=4, future=False, moving=False)
    zone = rng.choice(snapshot.zones).name
    clusters = list(snapshot.clusters)
    if zone not in {c.zone for c in clusters}:
        clusters[0] = replace(clusters[0], zone=zone)
    names = [c.name for c in clusters if c.zone == zone]
    clusters = [
        replace(c, free_gpus=rng.randint(0, 12), reachable=rng.random() < 0.95, cordoned=False)
        for c in clusters
    ]
    zones = tuple(replace(z, stale=rng.random() < 0.1) for z in snapshot.zones)
    workloads = tuple(
        replace(
            w,
            current_cluster=rng.choice(names) if rng.random() < 0.8 else w.current_cluster,
            gpus_per_replica=rng.randint(1, 4),
            replicas=rng.randint(1, 2),
            allowed_zones=w.allowed_zones if rng.random() < 0.2 else (),
            latency_slo_ms=w.latency_slo_ms if rng.random() < 0.3 else None,
            policy=w.policy if rng.random() < 0.1 else snapshot.policies[0].name,
            movable=rng.random() < 0.95,
        )
        for w in snapshot.workloads
    )
    in_zone = math.fsum(w.kw for w in workloads if w.current_cluster in names)
    shed = rng.random() < 0.5
    event = DemandResponse(
        name="order",
        zone=zone,
        start=NOW - MINUTE,
        end=None,
        shed_kw=max(10.0, round(in_zone * rng.uniform(0.1, 1.0))) if shed else None,
        import_cap_kw=None if shed else round(in_zone * rng.uniform(0.0, 0.9)),
    )
    return replace(
        snapshot,
        zones=zones,
        clusters=tuple(clusters),
        workloads=workloads,
        events=(event,),
        recent_moves=(),
    )


def _brute_force(snapshot: Snapshot) -> tuple[float, float]:
    """(kW the zone must still shed, most kW any assignment of flexible load can shed)."""
    event = snapshot.events[0]
    zones = {z.name: z for z in snapshot.zones}
    zone_of = {c.name: c.zone for c in snapshot.clusters}
    policies = {p.name: p.spec for p in snapshot.policies}
    here = [w for w in snapshot.workloads if zone_of.get(w.current_cluster or "") == event.zone]
    if event.shed_kw is not None:
        out = [
            w.kw
            for w in snapshot.workloads
            if w.current_cluster is not None
            and zone_of[w.current_cluster] != event.zone
            and zone_of[w.home_cluster] == event.zone
        ]
        need = event.shed_kw - math.fsum(out)
    else:
        need = math.fsum(w.kw for w in here) - (event.import_cap_kw or 0.0)

    def targets(w: Workload) -> list[Cluster]:
        spec = policies[w.policy or ""]
        peak = spec.triggers.peak_level
        threshold = min(2, peak.at_or_above) if peak.enabled else 2
        found = []
        for c in snapshot.clusters:
            z = zones[c.zone]
            if c.zone == event.zone or not c.reachable or c.cordoned or z.stale:
                continue
            if z.peak_level >= threshold or (w.allowed_zones and c.zone not in w.allowed_zones):
                continue
            if w.latency_slo_ms is not None and w.client_zone is not None:
                rtt = z.latency_ms.get(w.client_zone, 0 if c.zone == w.client_zone else None)
                if rtt is None or rtt > w.latency_slo_ms:
                    continue
            found.append(c)
        return found

    reachable = {c.name: c.reachable for c in snapshot.clusters}
    flexible = [
        w
        for w in here
        if w.policy in policies
        and w.movable
        and reachable[w.current_cluster or ""]
        and policies[w.policy].triggers.demand_response.enabled
        and not policies[w.policy].dry_run
        and not (
            w.last_failed_at is not None
            and w.last_failed_at + policies[w.policy].guards.cooldown_seconds * (MINUTE / 60) > NOW
        )
    ]
    best = 0.0
    options = [[None, *targets(w)] for w in flexible]
    for choice in itertools.product(*options):
        used: dict[str, int] = {}
        for w, c in zip(flexible, choice, strict=True):
            if c is not None:
                used[c.name] = used.get(c.name, 0) + w.gpus
        if all(used[c.name] <= c.free_gpus for c in snapshot.clusters if c.name in used):
            best = max(best, math.fsum(w.kw for w, c in zip(flexible, choice, strict=True) if c))
    return need, best


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32 - 1).map(_small_dr_fleet))
def test_the_target_is_met_whenever_some_assignment_meets_it(snapshot: Snapshot) -> None:
    """Brute force over small fleets: if any assignment sheds enough, the plan does; else the most."""
    need, possible = _brute_force(snapshot)
    outlook = plan(snapshot, NOW).events[0]
    assert math.isclose(max(0.0, outlook.target_kw - outlook.shed_kw), max(0.0, need), abs_tol=EPS)
    if need <= EPS:
        assert outlook.planned_kw == 0
    elif possible >= need - EPS:
        assert outlook.missing_kw <= EPS
    else:
        assert outlook.planned_kw >= possible - EPS
        assert math.isclose(outlook.missing_kw, need - outlook.planned_kw, abs_tol=EPS)


# -- examples ----------------------------------------------------------------------------------------

ZONES = (
    Zone("hubei", 0.5, 0, latency_ms={"shanghai": 20}),
    Zone("ningxia", 0.3, 0, latency_ms={"shanghai": 45}),
    Zone("shanghai", 1.2, 0, latency_ms={"shanghai": 2}),
)


def _snapshot(*workloads: Workload, free: tuple[int, int] = (16, 16), **fields: object) -> Snapshot:
    return Snapshot(
        zones=ZONES,
        clusters=(
            Cluster("hb", "hubei", True, free[0]),
            Cluster("nx", "ningxia", True, free[1]),
            Cluster("sh", "shanghai", True, 64),
        ),
        workloads=workloads,
        policies=(policy(),),
        events=(DemandResponse("order", "shanghai", NOW - MINUTE, None, 500.0, None),),
        **fields,  # type: ignore[arg-type]
    )


def test_the_largest_flexible_load_moves_first() -> None:
    """Shedding 500 kW of 100/200/300/400 kW workloads moves the 400 and the 300, nothing else."""
    sizes = {"a": 100.0, "b": 200.0, "c": 300.0, "d": 400.0}
    result = plan(_snapshot(*(workload(n, "sh", kw=kw) for n, kw in sizes.items())), NOW)
    assert sorted(i.workload for i in result.intents) == ["c", "d"]
    assert {i.trigger for i in result.intents} == {"DemandResponse"}
    assert {i.demand_response_event for i in result.intents} == {"order"}
    outlook = result.events[0]
    assert (outlook.target_kw, outlook.planned_kw, outlook.missing_kw) == (500.0, 700.0, 0.0)


def test_policy_priority_breaks_ties_between_equal_loads() -> None:
    """Of two equal loads, the one under the higher-priority policy goes first."""
    snapshot = _snapshot(
        workload("low", "sh", kw=500.0),
        workload("high", "sh", kw=500.0, policy="urgent"),
    )
    snapshot = replace(snapshot, policies=(policy(), policy("urgent", priority=900)))
    assert [i.workload for i in plan(snapshot, NOW).intents] == ["high"]


def test_what_the_fleet_cannot_shed_is_reported_missing() -> None:
    """With room for one 4-GPU workload only, 200 of 500 kW are shed and 300 kW are missing."""
    snapshot = _snapshot(workload("a", "sh", kw=200.0), workload("b", "sh", kw=150.0), free=(4, 0))
    result = plan(snapshot, NOW)
    outlook = result.events[0]
    assert [i.workload for i in result.intents] == ["a"]
    assert (outlook.planned_kw, outlook.missing_kw) == (200.0, 300.0)
    held = next(d for d in result.decisions if d.workload == "b")
    assert held.action == "hold"
    assert "still misses 300.0 kW" in held.reason


def test_an_exact_search_beats_largest_first_when_it_must() -> None:
    """Largest first would strand the target; a smaller pair that fits the GPUs meets it."""
    snapshot = _snapshot(
        workload("big", "sh", kw=450.0, gpus=12),
        workload("mid", "sh", kw=260.0, gpus=8),
        workload("mid2", "sh", kw=250.0, gpus=8),
        free=(8, 8),
    )
    result = plan(snapshot, NOW)
    assert sorted(i.workload for i in result.intents) == ["mid", "mid2"]
    assert result.events[0].missing_kw == 0


def test_a_grid_order_overrides_dwell_and_the_price_of_a_move() -> None:
    """A workload that just arrived, where a move saves nothing, still sheds for the order."""
    strict = policy(guards={"minDwellSeconds": 3600, "moveCostPerKW": 100})
    snapshot = replace(
        _snapshot(workload("a", "sh", kw=600.0, placed_at=NOW - MINUTE)), policies=(strict,)
    )
    assert [i.to_cluster for i in plan(snapshot, NOW).intents] == ["nx"]


@pytest.mark.parametrize(
    ("constraint", "expected"),
    [
        ({"allowed_zones": ("shanghai", "hubei")}, "hb"),
        ({"client_zone": "shanghai", "latency_slo_ms": 30}, "hb"),
        ({"client_zone": "shanghai", "latency_slo_ms": 10}, None),
    ],
)
def test_a_grid_order_keeps_allowed_zones_and_latency_slos(
    constraint: dict[str, Any], expected: str | None
) -> None:
    """Cheaper Ningxia is out of bounds or too far; Hubei takes it, or nothing can."""
    snapshot = _snapshot(workload("a", "sh", kw=600.0, **constraint))
    assert [i.to_cluster for i in plan(snapshot, NOW).intents] == ([expected] if expected else [])


def test_an_import_cap_brings_the_zone_load_under_it() -> None:
    """A 250 kW cap over 100+200+300 kW moves the 300 and the 200 kW workloads (largest first)."""
    snapshot = replace(
        _snapshot(
            *(workload(n, "sh", kw=kw) for n, kw in (("a", 100.0), ("b", 200.0), ("c", 300.0)))
        ),
        events=(DemandResponse("cap", "shanghai", NOW - MINUTE, None, None, 250.0),),
    )
    result = plan(snapshot, NOW)
    assert sorted(i.workload for i in result.intents) == ["b", "c"]
    assert result.events[0].target_kw == 350.0


def test_a_scheduled_event_starts_moves_one_lead_time_ahead() -> None:
    """An order at 10:10 moves a 120 s workload from 10:07:30 (lead 150 s), not before."""
    order = DemandResponse("later", "shanghai", NOW + 10 * MINUTE, None, 300.0, None)
    snapshot = replace(_snapshot(workload("a", "sh", kw=400.0)), events=(order,))
    early = plan(snapshot, NOW)
    assert early.intents == ()
    start = order.start - (120 + 30) * (MINUTE / 60)
    assert start in early.wake_at
    due = plan(snapshot, start)
    assert [(i.workload, i.trigger) for i in due.intents] == [("a", "Preemptive")]


def test_dry_run_workloads_never_count_as_shed() -> None:
    """A dry-run policy's intent is planned, flagged, and leaves the kW missing."""
    dry = policy("dry", dryRun=True)
    snapshot = replace(_snapshot(workload("a", "sh", kw=600.0, policy="dry")), policies=(dry,))
    result = plan(snapshot, NOW)
    assert [(i.workload, i.dry_run) for i in result.intents] == [("a", True)]
    assert result.events[0].missing_kw == 500.0

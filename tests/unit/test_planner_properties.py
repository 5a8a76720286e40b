"""Invariants of the planner over random fleets: safe targets, no overbooking, same answer, calm."""

from __future__ import annotations

import random
from dataclasses import replace
from typing import TypeVar

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.planner import Plan, Snapshot, plan
from orchestrator.planner.scoring import PEAKING_LEVEL
from tests.unit.test_planner_fleets import NOW, apply, snapshots

T = TypeVar("T")
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _threshold(snapshot: Snapshot, policy_name: str | None) -> int:
    for p in snapshot.policies:
        if p.name == policy_name and p.spec.triggers.peak_level.enabled:
            return min(PEAKING_LEVEL, p.spec.triggers.peak_level.at_or_above)
    return PEAKING_LEVEL


def _in_force_zones(snapshot: Snapshot) -> set[str]:
    return {e.zone for e in snapshot.events if e.start <= NOW and (e.end is None or e.end > NOW)}


@PROPERTY
@given(snapshots())
def test_no_cluster_is_booked_beyond_its_free_gpus(snapshot: Snapshot) -> None:
    """GPUs of all intents into a cluster fit its free GPUs minus what in-flight moves take."""
    result = plan(snapshot, NOW)
    pending: dict[str, int] = {}
    for move in snapshot.in_flight:
        pending[move.to_cluster] = pending.get(move.to_cluster, 0) + move.gpus_pending
    booked: dict[str, int] = {}
    for intent in result.intents:
        booked[intent.to_cluster] = booked.get(intent.to_cluster, 0) + intent.gpus
    for cluster in snapshot.clusters:
        if cluster.name in booked:
            assert booked[cluster.name] <= cluster.free_gpus - pending.get(cluster.name, 0)


@PROPERTY
@given(snapshots())
def test_targets_are_safe_allowed_and_within_the_slo(snapshot: Snapshot) -> None:
    """No move into a stale, peaking, unreachable, cordoned or shedding place, or off limits."""
    result = plan(snapshot, NOW)
    zones = {z.name: z for z in snapshot.zones}
    clusters = {c.name: c for c in snapshot.clusters}
    workloads = {(w.namespace, w.name): w for w in snapshot.workloads}
    shedding = _in_force_zones(snapshot)
    for intent in result.intents:
        w = workloads[(intent.namespace, intent.workload)]
        target = clusters[intent.to_cluster]
        zone = zones[target.zone]
        assert intent.from_cluster == w.current_cluster
        assert intent.to_cluster != w.current_cluster
        assert target.reachable
        assert not target.cordoned
        assert not zone.stale
        assert zone.peak_level < _threshold(snapshot, w.policy)
        assert zone.name not in shedding
        assert not w.allowed_zones or zone.name in w.allowed_zones
        assert w.movable
        assert w.policy is not None
        if w.latency_slo_ms is not None and w.client_zone is not None:
            rtt = zone.latency_ms.get(w.client_zone, 0 if zone.name == w.client_zone else None)
            assert rtt is not None
            assert rtt <= w.latency_slo_ms


@PROPERTY
@given(snapshots())
def test_every_decision_scores_every_other_cluster_and_chooses_the_best(snapshot: Snapshot) -> None:
    """One decision per workload; a candidate per other cluster; a chosen one is the best."""
    result = plan(snapshot, NOW)
    assert [(d.namespace, d.workload) for d in result.decisions] == sorted(
        (w.namespace, w.name) for w in snapshot.workloads
    )
    names = sorted(c.name for c in snapshot.clusters)
    current = {(w.namespace, w.name): w.current_cluster for w in snapshot.workloads}
    for decision in result.decisions:
        here = current[(decision.namespace, decision.workload)]
        assert [c.cluster for c in decision.candidates] == [n for n in names if n != here]
        for candidate in decision.candidates:
            assert tuple(candidate.terms) == ("energy_cost", "peak", "green", "latency", "capacity")
            assert candidate.eligible == (candidate.why_not == "")
        if decision.chosen_cluster is not None and decision.action == "move":
            eligible = [c for c in decision.candidates if c.eligible]
            best = min(eligible, key=lambda c: (-c.total, c.cluster))
            assert decision.chosen_cluster == best.cluster
        assert decision.reason


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(snapshots(), st.randoms(use_true_random=False))
def test_the_same_snapshot_gives_the_same_plan_in_any_order(
    snapshot: Snapshot, rng: random.Random
) -> None:
    """Planning twice, or from the same objects listed in another order, gives an equal plan."""
    first = plan(snapshot, NOW)
    assert plan(snapshot, NOW) == first

    def shuffled(items: tuple[T, ...]) -> tuple[T, ...]:
        out = list(items)
        rng.shuffle(out)
        return tuple(out)

    again = replace(
        snapshot,
        zones=shuffled(snapshot.zones),
        clusters=shuffled(snapshot.clusters),
        workloads=shuffled(snapshot.workloads),
        policies=shuffled(snapshot.policies),
        events=shuffled(snapshot.events),
        in_flight=shuffled(snapshot.in_flight),
        recent_moves=shuffled(snapshot.recent_moves),
    )
    assert plan(again, NOW) == first


def _limits_bound(result: Plan) -> bool:
    return any(
        "maxConcurrent" in d.reason or "maxMovesPerHour" in d.reason for d in result.decisions
    )


@PROPERTY
@given(snapshots())
def test_applying_a_plan_and_planning_again_moves_nothing(snapshot: Snapshot) -> None:
    """Once its moves are done, the same clock finds nothing more to move (no churn)."""
    first = plan(snapshot, NOW)
    second = plan(apply(snapshot, first), NOW)
    moved = {(i.namespace, i.workload) for i in first.intents if not i.dry_run}
    again = [i for i in second.intents if not i.dry_run]
    assert not [i for i in again if (i.namespace, i.workload) in moved]
    if not _limits_bound(first):
        assert again == []

"""Builders and a hypothesis strategy of consistent planner snapshots, shared by the planner tests.

The strategy draws small fleets with everything the planner reads: stale, peaking, unreachable
and cordoned places, forecasts, peak windows, level histories, latency tables, several
policies (some dry runs), in-flight and recent moves, and demand-response events.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.api.policy import MigrationPolicySpec
from orchestrator.planner import (
    Cluster,
    DemandResponse,
    ForecastSlot,
    InFlight,
    LevelChange,
    PeakWindow,
    Plan,
    Policy,
    RecentMove,
    Snapshot,
    Workload,
    Zone,
)

NOW = datetime(2026, 7, 15, 10, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
ZONE_NAMES = ("anhui", "hubei", "ningxia", "shanghai")


def policy(name: str = "default", **spec: Any) -> Policy:
    """A MigrationPolicy from its wire spec (camelCase keys as in kubectl)."""
    return Policy(name=name, spec=MigrationPolicySpec.model_validate(spec))


def workload(
    name: str,
    cluster: str | None,
    *,
    kw: float = 100.0,
    gpus: int = 4,
    home: str | None = None,
    policy: str | None = "default",
    namespace: str = "ai",
    placed_at: datetime | None = None,
    **fields: Any,
) -> Workload:
    """A one-replica workload running in ``cluster`` (home there too unless said)."""
    return Workload(
        namespace=namespace,
        name=name,
        current_cluster=cluster,
        home_cluster=home or cluster or "none",
        replicas=1,
        gpus_per_replica=gpus,
        kw=kw,
        policy=policy,
        placed_at=placed_at if placed_at is not None else NOW - 6 * HOUR,
        **fields,
    )


def apply(snapshot: Snapshot, plan: Plan) -> Snapshot:
    """The snapshot once the plan's live intents have completed at ``plan.at``.

    Moved workloads run on their targets with ``placed_at`` = now, the targets' free GPUs drop
    by what they took, and each move is a recent move. Sources keep their GPUs counted as used
    (a released copy may be kept for rollback); in-flight moves that were there stay.
    """
    live = [i for i in plan.intents if not i.dry_run]
    moved = {(i.namespace, i.workload): i for i in live}
    taken: dict[str, int] = {}
    for intent in live:
        taken[intent.to_cluster] = taken.get(intent.to_cluster, 0) + intent.gpus
    workloads = tuple(
        replace(w, current_cluster=moved[(w.namespace, w.name)].to_cluster, placed_at=plan.at)
        if (w.namespace, w.name) in moved
        else w
        for w in snapshot.workloads
    )
    clusters = tuple(
        replace(c, free_gpus=c.free_gpus - taken.get(c.name, 0)) for c in snapshot.clusters
    )
    recent = tuple(
        RecentMove(
            namespace=i.namespace,
            workload=i.workload,
            policy=i.policy,
            started_at=plan.at,
            from_cluster=i.from_cluster,
            to_cluster=i.to_cluster,
            outcome="Completed",
        )
        for i in live
    )
    return replace(
        snapshot,
        workloads=workloads,
        clusters=clusters,
        recent_moves=snapshot.recent_moves + recent,
    )


# -- the strategy ----------------------------------------------------------------------------------
#
# Fleets are built from one drawn seed with ``random.Random``: a draw per field costs hypothesis
# more than the planner costs, and a failing example still reproduces from its seed.

PRICES = (None, 0.2, 0.35, 0.5, 0.65, 0.8, 1.0, 1.3)


def _zones(rng: random.Random, names: tuple[str, ...], *, future: bool) -> tuple[Zone, ...]:
    made = []
    for name in names:
        forecast: tuple[ForecastSlot, ...] = ()
        next_peak = None
        history: tuple[LevelChange, ...] = ()
        if future and rng.random() < 0.5:
            start = NOW + rng.choice([-30, 5, 20, 60]) * MINUTE
            forecast = tuple(
                ForecastSlot(
                    start=start + k * HOUR,
                    end=start + (k + 1) * HOUR,
                    price_per_kwh=rng.choice(PRICES),
                    peak_level=rng.choice([None, 0, 1, 2, 3]),
                )
                for k in range(rng.randint(1, 3))
            )
        if future and rng.random() < 0.5:
            start = NOW + rng.choice([-20, 2, 10, 45]) * MINUTE
            next_peak = PeakWindow(start=start, end=start + HOUR, peak_level=rng.randint(2, 3))
        if rng.random() < 0.5:
            at = NOW - rng.choice([5, 20, 60]) * MINUTE
            history = (LevelChange(at - HOUR, rng.randint(0, 3)), LevelChange(at, 0))
        level = rng.choice([0, 0, 0, 0, 1, 1, 2, 3])
        made.append(
            Zone(
                name=name,
                price_per_kwh=rng.choice(PRICES),
                peak_level=level if not history or level else 0,
                green_ratio=rng.choice([None, 0.1, 0.4, 0.8]),
                stale=rng.random() < 0.12,
                forecast=forecast,
                next_peak=next_peak,
                level_history=history if not level else (),
                latency_ms={
                    other: rng.choice([5, 20, 40, 80]) for other in names if rng.random() < 0.8
                },
            )
        )
    return tuple(made)


def _policies(rng: random.Random) -> tuple[Policy, ...]:
    made = []
    for name in ("default", "batch")[: rng.randint(1, 2)]:
        concurrent = rng.randint(1, 10)
        made.append(
            policy(
                name,
                priority=rng.randint(0, 200),
                dryRun=rng.random() < 0.15,
                preemptionLeadSeconds=rng.choice([0, 600]),
                triggers={
                    "peakLevel": {"enabled": rng.random() < 0.7, "atOrAbove": rng.randint(1, 3)},
                    "priceSpread": {
                        "enabled": rng.random() < 0.6,
                        "minSpreadPerKWh": rng.choice([0.05, 0.1, 0.2, 0.5]),
                        "minDurationSeconds": rng.choice([0, 1800, 3600]),
                    },
                    "demandResponse": {"enabled": rng.random() < 0.8},
                    "greenRatio": {
                        "enabled": rng.random() < 0.4,
                        "minImprovement": rng.choice([0.1, 0.3]),
                    },
                },
                guards={
                    "minDwellSeconds": rng.choice([0, 900]),
                    "cooldownSeconds": rng.choice([0, 300]),
                    "maxConcurrent": concurrent,
                    "maxMovesPerHour": concurrent + rng.randint(0, 10),
                    "savingMustExceedCost": rng.random() < 0.5,
                    "moveCostPerKW": rng.choice([0.0, 0.05, 0.2]),
                },
                returnHome={
                    "enabled": rng.random() < 0.7,
                    "belowPeakLevel": rng.randint(0, 2),
                    "hysteresisSeconds": rng.choice([0, 900]),
                },
            )
        )
    return tuple(made)


def fleet(
    seed: int,
    *,
    max_workloads: int = 8,
    max_clusters: int = 5,
    future: bool = True,
    moving: bool = True,
) -> Snapshot:
    """A consistent snapshot from ``seed``: every name it mentions exists, numbers in range."""
    rng = random.Random(seed)  # noqa: S311  # test data, not secrets
    zone_names = ZONE_NAMES[: rng.randint(2, len(ZONE_NAMES))]
    zs = _zones(rng, zone_names, future=future)
    clusters = tuple(
        Cluster(
            name=f"c{k}-{zone}",
            zone=zone,
            reachable=rng.random() < 0.9,
            free_gpus=rng.randint(0, 16),
            cordoned=rng.random() < 0.1,
        )
        for k, zone in enumerate(rng.choices(zone_names, k=rng.randint(2, max_clusters)))
    )
    names = [c.name for c in clusters]
    pols = _policies(rng)
    workloads = []
    for k in range(rng.randint(1, max_workloads)):
        current = rng.choice(names)
        client = rng.choice([None, *zone_names])
        workloads.append(
            Workload(
                namespace=rng.choice(["ai", "chat"]),
                name=f"w{k}",
                current_cluster=current if rng.random() < 0.96 else None,
                home_cluster=rng.choice([current, current, *names]),
                replicas=rng.randint(1, 3),
                gpus_per_replica=rng.randint(0, 4),
                kw=float(rng.randint(1, 40) * 10),
                policy=rng.choice([None, "gone", *[p.name for p in pols] * 10]),
                allowed_zones=tuple(sorted(set(rng.sample(zone_names, rng.randint(0, 2))))),
                client_zone=client,
                latency_slo_ms=rng.choice([None, 10, 30, 60]) if client else None,
                movable=rng.random() < 0.95,
                placed_at=NOW - rng.choice([1, 10, 30, 120, 600]) * MINUTE,
                last_failed_at=rng.choice([None, None, NOW - 2 * MINUTE]),
                migration_seconds=float(rng.choice([30, 120, 300])),
                priority=rng.randint(0, 3),
            )
        )
    in_flight = [
        InFlight(
            name=f"mig-{w.name}",
            namespace=w.namespace,
            workload=w.name,
            from_cluster=w.current_cluster,
            to_cluster=rng.choice([n for n in names if n != w.current_cluster]),
            phase="WarmingUp",
            started_at=NOW - MINUTE,
            kw=w.kw,
            gpus_pending=rng.randint(0, w.gpus),
            policy=w.policy,
        )
        for w in workloads
        if moving and w.current_cluster is not None and rng.random() < 0.08
    ]
    recent = tuple(
        RecentMove(
            namespace="ai",
            workload=f"old{k}",
            policy=rng.choice([p.name for p in pols]),
            started_at=NOW - rng.choice([5, 30, 59, 90]) * MINUTE,
            from_cluster=rng.choice(names),
            to_cluster=rng.choice(names),
            outcome="Completed",
        )
        for k in range(rng.randint(0, 3))
    )
    events = []
    for k in range(rng.choice([0, 1, 1, 2])):
        shed = rng.choice([None, rng.randint(1, 80) * 10.0])
        events.append(
            DemandResponse(
                name=f"dr{k}",
                zone=rng.choice(zone_names),
                start=NOW + rng.choice([-10, -1, 1, 3, 30]) * MINUTE,
                end=rng.choice([None, NOW + HOUR]),
                shed_kw=shed,
                import_cap_kw=None if shed is not None else rng.randint(0, 50) * 10.0,
            )
        )
    return Snapshot(
        zones=zs,
        clusters=clusters,
        workloads=tuple(workloads),
        policies=pols,
        events=tuple(events),
        in_flight=tuple(in_flight),
        recent_moves=recent,
    )


def snapshots(**knobs: Any) -> st.SearchStrategy[Snapshot]:
    """Random consistent snapshots (see :func:`fleet` for the knobs)."""
    return st.integers(0, 2**32 - 1).map(lambda seed: fleet(seed, **knobs))


# -- the strategy itself ---------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(snapshots())
def test_drawn_snapshots_are_consistent(snapshot: Snapshot) -> None:
    """Every cluster, policy and zone a drawn snapshot names exists (or is meant not to)."""
    clusters = {c.name for c in snapshot.clusters}
    zones_named = {z.name for z in snapshot.zones}
    assert {c.zone for c in snapshot.clusters} <= zones_named
    for w in snapshot.workloads:
        assert w.current_cluster is None or w.current_cluster in clusters
        assert w.home_cluster in clusters
        assert set(w.allowed_zones) <= zones_named
    for move in snapshot.in_flight:
        assert {move.from_cluster, move.to_cluster} <= clusters
        assert move.gpus_pending >= 0

"""How long the planner takes for large fleets.

    uv run --frozen python bench/planner_scale.py [--runs 5] [--seed 7]

Builds seeded random snapshots of 1,000 and 10,000 workloads over 10 and 50 member clusters
(one zone per five clusters, a quarter of the zones peaking, prices and forecasts spread,
two policies with generous limits, some in-flight moves, and one demand-response event in
force asking for 30 % of its zone's load), then times
``plan(snapshot, now)`` and prints the median, the number of intents and of decisions.
Figures, not a pass/fail: the goal is under 1 s for 10,000 workloads x 50 clusters.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import UTC, datetime, timedelta

from orchestrator.api.policy import MigrationPolicySpec
from orchestrator.planner import (
    Cluster,
    DemandResponse,
    ForecastSlot,
    InFlight,
    Policy,
    Snapshot,
    Workload,
    Zone,
    plan,
)

NOW = datetime(2026, 7, 15, 10, 0, tzinfo=UTC)
SIZES = ((1_000, 10), (1_000, 50), (10_000, 10), (10_000, 50))


def snapshot(workloads: int, clusters: int, seed: int) -> Snapshot:
    """A seeded fleet: ``workloads`` on ``clusters`` clusters, five to a zone (3 at least)."""
    rng = random.Random(seed)  # noqa: S311  # benchmark data, not secrets
    zone_names = [f"zone-{k:02d}" for k in range(max(3, clusters // 5))]
    zones = tuple(
        Zone(
            name=name,
            price_per_kwh=round(rng.uniform(0.2, 1.3), 2),
            peak_level=2 if k % 4 == 0 else rng.choice([0, 0, 1]),
            green_ratio=round(rng.random(), 2),
            forecast=tuple(
                ForecastSlot(
                    start=NOW + timedelta(hours=h),
                    end=NOW + timedelta(hours=h + 1),
                    price_per_kwh=round(rng.uniform(0.2, 1.3), 2),
                    peak_level=rng.choice([0, 0, 1, 2]),
                )
                for h in range(4)
            ),
            latency_ms={other: rng.choice([5, 20, 40, 80]) for other in zone_names},
        )
        for k, name in enumerate(zone_names)
    )
    members = tuple(
        Cluster(
            name=f"cluster-{k:03d}",
            zone=zone_names[k % len(zone_names)],
            reachable=rng.random() < 0.97,
            free_gpus=rng.randint(0, 64),
        )
        for k in range(clusters)
    )
    policies = (
        Policy(
            "default",
            MigrationPolicySpec.model_validate(
                {
                    "triggers": {"priceSpread": {"enabled": True}},
                    "guards": {"maxConcurrent": 500, "maxMovesPerHour": 10000},
                }
            ),
        ),
        Policy(
            "batch",
            MigrationPolicySpec.model_validate(
                {"priority": 50, "guards": {"maxConcurrent": 100, "maxMovesPerHour": 1000}}
            ),
        ),
    )
    fleet = []
    for k in range(workloads):
        current = rng.choice(members).name
        fleet.append(
            Workload(
                namespace=f"ns-{k % 20:02d}",
                name=f"model-{k:05d}",
                current_cluster=current,
                home_cluster=current if rng.random() < 0.95 else rng.choice(members).name,
                replicas=rng.randint(1, 4),
                gpus_per_replica=rng.choice([1, 2, 4, 8]),
                kw=float(rng.randint(5, 400)),
                policy=rng.choice(["default", "batch", "batch", None]),
                client_zone=rng.choice([None, *zone_names]),
                latency_slo_ms=rng.choice([None, None, 50, 100]),
                placed_at=NOW - timedelta(minutes=rng.choice([5, 60, 600])),
                migration_seconds=rng.choice([60.0, 120.0, 150.0]),
            )
        )
    in_flight = tuple(
        InFlight(
            name=f"mig-{w.name}",
            namespace=w.namespace,
            workload=w.name,
            from_cluster=w.current_cluster or "",
            to_cluster=rng.choice(members).name,
            phase="WarmingUp",
            started_at=NOW - timedelta(minutes=1),
            kw=w.kw,
            gpus_pending=w.gpus,
            policy=w.policy,
        )
        for w in rng.sample(fleet, k=workloads // 500)
    )
    zone_of = {c.name: c.zone for c in members}
    ordered = [w.kw for w in fleet if zone_of[w.current_cluster or ""] == zone_names[1]]
    event = DemandResponse(
        name="dispatch",
        zone=zone_names[1],
        start=NOW - timedelta(minutes=1),
        end=NOW + timedelta(hours=1),
        shed_kw=float(round(0.3 * sum(ordered))),
        import_cap_kw=None,
    )
    return Snapshot(
        zones=zones,
        clusters=members,
        workloads=tuple(fleet),
        policies=policies,
        events=(event,),
        in_flight=in_flight,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per size (median shown)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print(
        f"{'workloads':>9} {'clusters':>8} {'median s':>9} {'cpu s':>9} {'min s':>7} "
        f"{'intents':>7} {'decisions':>9}"
    )
    for workloads, clusters in SIZES:
        snap = snapshot(workloads, clusters, args.seed)
        times, cpu = [], []
        result = None
        for _ in range(max(1, args.runs)):
            started, started_cpu = time.perf_counter(), time.process_time()
            result = plan(snap, NOW)
            times.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
        assert result is not None
        print(
            f"{workloads:>9,} {clusters:>8} {statistics.median(times):>9.3f} "
            f"{statistics.median(cpu):>9.3f} {min(times):>7.3f} "
            f"{len(result.intents):>7} {len(result.decisions):>9}"
        )


if __name__ == "__main__":
    main()

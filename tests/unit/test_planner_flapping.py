"""Flapping: a price that swings across the spread threshold every minute moves little."""

from __future__ import annotations

from dataclasses import replace

import pytest

from orchestrator.planner import Cluster, Plan, Snapshot, Zone, plan
from tests.unit.test_planner_fleets import MINUTE, NOW, apply, policy, workload

HIGH, LOW, NINGXIA = 0.8, 0.45, 0.3
"""Shanghai swings between HIGH (0.5 above Ningxia, over the 0.3 spread) and LOW (0.15)."""


def _completed(snapshot: Snapshot, result: Plan) -> Snapshot:
    """The plan's moves done at its clock: ``apply``, and each source's GPUs free again."""
    done = apply(snapshot, result)
    freed: dict[str, int] = {}
    for intent in result.intents:
        freed[intent.from_cluster] = freed.get(intent.from_cluster, 0) + intent.gpus
    return replace(
        done,
        clusters=tuple(
            replace(c, free_gpus=c.free_gpus + freed.get(c.name, 0)) for c in done.clusters
        ),
    )


def _simulate(guards: dict[str, object], minutes: int = 20) -> int:
    """Plan once a simulated minute as the price swings; return the moves started."""
    swinging = policy(
        triggers={
            "peakLevel": {"enabled": False},
            "priceSpread": {"enabled": True, "minSpreadPerKWh": 0.3, "minDurationSeconds": 0},
        },
        guards={"savingMustExceedCost": False, **guards},
        returnHome={"hysteresisSeconds": 0},
    )
    snapshot = Snapshot(
        zones=(Zone("ningxia", NINGXIA, 0), Zone("shanghai", HIGH, 0)),
        clusters=(Cluster("nx", "ningxia", True, 16), Cluster("sh", "shanghai", True, 16)),
        workloads=(workload("chat", "sh", placed_at=NOW - 2 * 60 * MINUTE),),
        policies=(swinging,),
    )
    started = 0
    for minute in range(minutes):
        now = NOW + minute * MINUTE
        price = HIGH if minute % 2 == 0 else LOW
        snapshot = replace(
            snapshot,
            zones=(snapshot.zones[0], replace(snapshot.zones[1], price_per_kwh=price)),
        )
        result = plan(snapshot, now)
        started += len(result.intents)
        snapshot = _completed(snapshot, result)
    return started


def test_without_dwell_the_hourly_limit_caps_the_swings() -> None:
    """No dwell: the workload chases the price until maxMovesPerHour (4) stops it."""
    moved = _simulate({"minDwellSeconds": 0, "maxConcurrent": 1, "maxMovesPerHour": 4})
    assert moved == 4  # it did flap (the test can fail), and no more than the limit allows


@pytest.mark.parametrize("hourly", [4, 20])
def test_with_the_default_dwell_it_moves_far_fewer_times(hourly: int) -> None:
    """The default 15 min dwell allows the first move and at most one return in 20 minutes."""
    moved = _simulate({"maxConcurrent": 1, "maxMovesPerHour": hourly})
    assert 1 <= moved <= 2

"""From the hub's objects to the planner's snapshot: every field the planner reads, mapped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from orchestrator.controller.snapshot import HubObjects, build
from orchestrator.planner.model import LevelChange

pytestmark = pytest.mark.unit

NOW = datetime(2026, 7, 14, 19, 0, tzinfo=UTC)


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def zone(name: str, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "generation": 1},
        "spec": {"latencies": [{"zone": "hubei", "rttMilliseconds": 18}]},
        "status": status,
    }


def member(name: str, zone: str, *, free: int, reachable: str = "True") -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {"zone": zone, "kubeconfigSecretRef": {"name": f"m-{name}", "namespace": "gs"}},
        "status": {
            "freeGPUs": free,
            "lastProbeTime": iso(NOW - timedelta(seconds=5)),
            "conditions": [
                {"type": "Reachable", "status": reachable, "reason": "Probed",
                 "lastTransitionTime": iso(NOW)}
            ],
        },
    }  # fmt: skip


def workload(name: str, *, labels: dict[str, str] | None = None, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "ai", "labels": labels or {}},
        "spec": {
            "template": {"replicas": 2, "template": {"spec": {"containers": []}}},
            "power": {"gpusPerReplica": 4, "wattsPerGPU": 700},
            "placement": {"homeCluster": "sh-1", "clientZone": "shanghai",
                          "latencySLOMilliseconds": 50},
            "migration": {"deadlineSeconds": 150, "priority": 7},
        },
        "status": status,
    }  # fmt: skip


def migration(name: str, wl: str, *, phase: str, started: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "ai", "creationTimestamp": iso(started)},
        "spec": {
            "workload": wl,
            "fromCluster": "sh-1",
            "toCluster": "hb-1",
            "reason": {"trigger": "DemandResponse", "policy": "flex",
                       "demandResponseEvent": "shanghai-evt"},
        },
        "status": {"phase": phase, "startTime": iso(started), **extra},
    }  # fmt: skip


def objects() -> HubObjects:
    return HubObjects(
        zones=[
            zone("shanghai", pricePerKWh=1.2, peakLevel=2, stale=False, lastSignalID="sig-9"),
            zone("hubei"),
        ],
        members=[
            member("sh-1", "shanghai", free=10),
            member("hb-1", "hubei", free=30, reachable="False"),
        ],
        workloads=[
            workload(
                "llm-a",
                labels={"tier": "flex"},
                currentCluster="sh-1",
                placedAt=iso(NOW - timedelta(hours=2)),
            ),
            workload("llm-b", currentCluster="sh-1"),
            {"metadata": {"name": "broken", "namespace": "ai"}, "spec": {"power": "lots"}},
        ],
        policies=[
            {
                "metadata": {"name": "flex"},
                "spec": {"workloadSelector": {"matchLabels": {"tier": "flex"}}},
            },
            {
                "metadata": {"name": "other"},
                "spec": {"workloadSelector": {"matchLabels": {"tier": "x"}}},
            },
        ],
        events=[
            {
                "metadata": {"name": "shanghai-evt"},
                "spec": {
                    "zone": "shanghai",
                    "window": {"start": iso(NOW)},
                    "shedKW": 500,
                    "source": {"kind": "Native", "eventID": "evt"},
                },
            },
            {
                "metadata": {"name": "withdrawn"},
                "spec": {
                    "zone": "shanghai",
                    "window": {"start": iso(NOW)},
                    "shedKW": 9,
                    "source": {"kind": "Native", "eventID": "w"},
                },
                "status": {"state": "Cancelled"},
            },
        ],
        migrations=[
            migration(
                "m-old",
                "llm-b",
                phase="RolledBack",
                started=NOW - timedelta(minutes=30),
                completionTime=iso(NOW - timedelta(minutes=28)),
            ),
            migration("m-now", "llm-a", phase="Provisioning", started=NOW - timedelta(seconds=20)),
        ],
        namespace_labels={"ai": {}},
    )


def test_zones_clusters_and_workloads_are_mapped() -> None:
    """Prices, levels, latency (own zone 0), reachability, power and policy come through."""
    history = {"shanghai": [LevelChange(NOW - timedelta(minutes=5), 2)]}
    snap = build(
        objects(), now=NOW, durations={("ai", "llm-a"): [40.0, 60.0]}, level_history=history
    )
    sh = snap.zones[1]
    assert (sh.name, sh.price_per_kwh, sh.peak_level, sh.stale, sh.signal_id) == (
        "shanghai", 1.2, 2, False, "sig-9")  # fmt: skip
    assert sh.latency_ms == {"hubei": 18, "shanghai": 0}
    assert sh.level_history == tuple(history["shanghai"])
    assert snap.zones[0].stale  # no signal yet
    assert [(c.name, c.reachable, c.free_gpus) for c in snap.clusters] == [
        ("hb-1", False, 30), ("sh-1", True, 10)]  # fmt: skip
    a, b = snap.workloads
    assert (a.name, a.kw, a.gpus, a.policy, a.deadline_seconds, a.priority) == (
        "llm-a", 5.6, 8, "flex", 150, 7)  # fmt: skip
    assert a.migration_seconds == 60.0
    assert a.latency_slo_ms == 50
    assert a.client_zone == "shanghai"
    assert b.policy is None
    assert b.last_failed_at == NOW - timedelta(minutes=28)


def test_a_malformed_object_is_left_out() -> None:
    """One broken InferenceWorkload does not stop the plan for the others."""
    snap = build(objects(), now=NOW, durations={}, level_history={})
    assert [w.name for w in snap.workloads] == ["llm-a", "llm-b"]


def test_moves_in_flight_book_their_gpus_until_the_target_reports_them() -> None:
    """A move still provisioning holds its GPUs; ended moves count only as recent moves."""
    snap = build(objects(), now=NOW, durations={}, level_history={})
    assert [(m.name, m.gpus_pending, m.demand_response_event) for m in snap.in_flight] == [
        ("m-now", 8, "shanghai-evt")]  # fmt: skip
    assert [(m.workload, m.outcome, m.policy) for m in snap.recent_moves] == [
        ("llm-b", "RolledBack", "flex"), ("llm-a", None, "flex")]  # fmt: skip


def test_cancelled_events_are_not_planned_for() -> None:
    """A withdrawn order asks nothing."""
    snap = build(objects(), now=NOW, durations={}, level_history={})
    assert [(e.name, e.shed_kw, e.signal_id) for e in snap.events] == [("shanghai-evt", 500, "evt")]

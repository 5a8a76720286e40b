"""After a move, the running operator's /metrics, /readyz, read API and Events tell the story."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from conftest import (
    MOVES,
    Stage,
    create_migration,
    create_workload,
    wait_ended,
    wait_placed,
    workload,
)
from kube import core, wait_for
from operator_process import HUB
from prometheus_client.parser import text_string_to_metric_families

from orchestrator.api.common import API_VERSION, GROUP, VERSION

TIMED = ["Pending", "Preflight", "Provisioning", "WarmingUp", "ShiftingTraffic", "Draining",
         "Releasing"]  # fmt: skip
ZONE = f"metrics-{uuid.uuid4().hex[:6]}"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _scrape(base: str) -> Samples:
    text = httpx.get(f"{base}/metrics", timeout=10).text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _get(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _reasons(stage: Stage, kind: str, name: str) -> set[str]:
    events = core(stage.fleet.kubeconfig(HUB)).list_namespaced_event(
        MOVES, field_selector=f"involvedObject.name={name},involvedObject.kind={kind}"
    )
    return {e.reason for e in events.items}


def _zone() -> dict[str, Any]:
    """A zone no cluster draws from (it moves nothing), priced from Shanghai's TOU tariff."""
    return {
        "apiVersion": API_VERSION,
        "kind": "GridZone",
        "metadata": {"name": ZONE},
        "spec": {
            "gridZoneID": "CN-SH",
            "timezone": "Asia/Shanghai",
            "signalTTLSeconds": 3600,
            "priceFeeds": [{"type": "TimeOfUse", "pollIntervalSeconds": 300}],
        },
    }


def test_a_completed_move_shows_in_metrics_and_events(stage: Stage) -> None:
    """Counted by outcome, duration and phases observed, ledger lag seen; Events on both objects."""
    base = f"http://127.0.0.1:{stage.operator.api_port}"
    wait_for(lambda: _answers(f"{base}/readyz"), timeout=60, what="the operator to be ready")
    stage.objects.create_cluster_custom_object(GROUP, VERSION, "gridzones", _zone())
    try:
        before = _scrape(base)
        create_workload(stage, workload("metrics-a", home="ningxia", replicas=1, ready_after="5s"))
        wait_placed(stage, "metrics-a", "ningxia", 1)
        create_migration(stage, "metrics-a-away", "metrics-a", source="ningxia", target="hubei")
        moved = wait_ended(stage, "metrics-a-away")
        assert moved["status"]["phase"] == "Completed", moved["status"]
        webhook = f"http://127.0.0.1:{stage.operator.webhook_port}"
        refused = httpx.post(f"{webhook}/v1/signals", json={"signals": []}, timeout=5)
        assert refused.status_code == 401
        # the zone's price arrives after the operator's next zone refresh (30 s) and first poll
        after = wait_for(
            lambda: s if _get(s := _scrape(base), "gridshift_zone_peak_level", zone=ZONE) is not None
            else None,
            timeout=120, interval=2, what=f"gauges of GridZone {ZONE}",
        )  # fmt: skip

        def grew(name: str, **labels: str) -> float:
            return (_get(after, name, **labels) or 0.0) - (_get(before, name, **labels) or 0.0)

        assert grew("gridshift_migrations_total", outcome="Completed", trigger="Manual") >= 1
        assert grew("gridshift_migration_duration_seconds_count", outcome="Completed") >= 1
        duration = moved["status"]["durationSeconds"]
        # a histogram sum of float seconds: equal up to rounding
        assert (
            grew("gridshift_migration_duration_seconds_sum", outcome="Completed") >= duration - 1e-3
        )
        for phase in TIMED:
            assert grew("gridshift_migration_phase_duration_seconds_count", phase=phase) >= 1, phase
        # the 5 s model load is spent in WarmingUp, nowhere else
        assert grew("gridshift_migration_phase_duration_seconds_sum", phase="WarmingUp") >= 5
        assert grew("gridshift_ledger_write_lag_seconds_count", record="outcome") >= 1
        assert grew("gridshift_signals_total", source="native", result="rejected_auth") >= 1
        assert (
            _get(after, "gridshift_migration_deadline_misses_total", trigger="Manual") is not None
        )
        assert (_get(after, "gridshift_zone_price_per_kwh", zone=ZONE) or 0) > 0
        assert _get(after, "gridshift_zone_stale", zone=ZONE) == 0
        accepted = _get(after, "gridshift_signals_total", source="timeofuse", result="accepted")
        assert (accepted or 0) >= 1
        assert _get(after, "gridshift_planner_duration_seconds_count") is not None
        assert _get(after, "gridshift_planner_moves_planned_total", trigger="PeakLevel") is not None
        assert _get(after, "gridshift_leader") == 1.0  # the session's only replica leads

        wanted = {"MigrationStarted", "Provisioned", "TargetReady", "TrafficShifted",
                  "MigrationCompleted"}  # fmt: skip
        wait_for(
            lambda: wanted <= _reasons(stage, "Migration", "metrics-a-away"),
            timeout=30, what="the Migration's Events",
        )  # fmt: skip
        wait_for(
            lambda: "Moved" in _reasons(stage, "InferenceWorkload", "metrics-a"),
            timeout=30,
            what="the workload's Moved Event",
        )
        assert "DeadlineMissed" not in _reasons(stage, "Migration", "metrics-a-away")

        listed = httpx.get(f"{base}/api/v1/migrations", params={"namespace": MOVES}, timeout=10)
        mine = [m for m in listed.json()["items"] if m["name"] == "metrics-a-away"]
        assert mine[0]["status"]["phase"] == "Completed"
        history = httpx.get(
            f"{base}/api/v1/migrations",
            params={"history": "true", "namespace": MOVES, "workload": "metrics-a"},
            timeout=10,
        ).json()["items"]
        assert [h["outcome"] for h in history] == ["Completed"]
    finally:
        stage.objects.delete_cluster_custom_object(GROUP, VERSION, "gridzones", ZONE)
        stage.objects.delete_namespaced_custom_object(
            GROUP, VERSION, MOVES, "inferenceworkloads", "metrics-a"
        )

"""A grid dispatch order, end to end: the webhook takes it, the planner sheds it, the fleet
moves, the DemandResponseEvent reads Met, and when the window closes the workloads go home.

Twelve workloads of different sizes run in Shanghai (30 s simulated model load each). The grid
operator asks Shanghai to shed 500 kW within 180 s through the native webhook. The test owns its
namespace, policy and zones and removes them afterwards, so other tests' workloads (selected by
no policy) are never planned.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from conftest import Stage
from kube import core, wait_for
from kubernetes import client
from operator_process import HUB, NAMESPACE
from sqlalchemy import func, select

from orchestrator.api.common import API_VERSION, GROUP, VERSION
from orchestrator.ledger.db import make_engine, session_factory
from orchestrator.ledger.models import Decision, GridSignal, Migration

pytestmark = pytest.mark.e2e

NS = "demand"
POLICY = "dr-e2e"
LABEL = {"gridshift.io/e2e": "demand-response"}
OPERATOR, TOKEN = "e2e-grid", "e2e-grid-token-" + uuid.uuid4().hex[:8]
ZONES = ("shanghai", "hubei", "ningxia")
SIZES_KW = (120, 100, 90, 80, 70, 60, 50, 40, 30, 25, 20, 15)  # 700 kW in all
SHED_KW = 500.0
WINDOW_SECONDS = 120
DWELL_SECONDS = 30
LEAD_SECONDS = 75


def _workload(index: int, kw: float) -> dict[str, Any]:
    gpus = 1 + index % 4
    return {
        "apiVersion": API_VERSION,
        "kind": "InferenceWorkload",
        "metadata": {"name": f"llm-{index:02d}", "namespace": NS, "labels": LABEL},
        "spec": {
            "template": {
                "replicas": 1,
                "template": {
                    "metadata": {"annotations": {"sim.gridshift.io/ready-after": "30s"}},
                    "spec": {
                        "containers": [
                            {
                                "name": "server",
                                "image": "registry.invalid/model:1",
                                "resources": {
                                    "requests": {"nvidia.com/gpu": str(gpus)},
                                    "limits": {"nvidia.com/gpu": str(gpus)},
                                },
                            }
                        ]
                    },
                },
            },
            "power": {"gpusPerReplica": gpus, "kwPerReplica": kw},
            "placement": {"homeCluster": "shanghai"},
            "migration": {"deadlineSeconds": 180, "drainSeconds": 0},
        },
    }


def _policy() -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "MigrationPolicy",
        "metadata": {"name": POLICY},
        "spec": {
            "workloadSelector": {"matchLabels": LABEL},
            "triggers": {"peakLevel": {"enabled": True, "atOrAbove": 2}},
            "guards": {
                "minDwellSeconds": DWELL_SECONDS,
                "cooldownSeconds": 30,
                "maxConcurrent": 12,
                "maxMovesPerHour": 60,
            },
            "returnHome": {"enabled": True, "belowPeakLevel": 1, "hysteresisSeconds": 10},
            "preemptionLeadSeconds": LEAD_SECONDS,
        },
    }


def _zone(name: str) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "GridZone",
        "metadata": {"name": name},
        "spec": {
            "gridZoneID": f"E2E-{name[:2].upper()}",
            "signalTTLSeconds": 3600,
            "gridOperators": [OPERATOR],
        },
    }


class Grid:
    """The grid operator's side: signals through gridshift's webhook."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/v1/signals"

    def post(self, signals: list[dict[str, Any]]) -> httpx.Response:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        return httpx.post(self.url, json={"signals": signals}, headers=headers, timeout=10)

    def send(self, signals: list[dict[str, Any]]) -> None:
        """Post until accepted (the operator reads its token Secret every 30 s)."""
        answer = wait_for(
            lambda: r if (r := self.post(signals)).status_code == 200 else None,
            timeout=90,
            interval=2,
            what="the webhook to accept the grid operator's token",
        )
        assert answer.status_code == 200, answer.text


def _objects(stage: Stage) -> client.CustomObjectsApi:
    return stage.objects


@pytest.fixture
def scene(stage: Stage) -> Iterator[Grid]:
    api = core(stage.fleet.kubeconfig(HUB))
    objects = _objects(stage)
    try:
        api.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NS)))
    except client.ApiException as exc:
        if exc.status != 409:
            raise
    secret = client.V1Secret(
        metadata=client.V1ObjectMeta(name="gridshift-grid-operators"),
        data={OPERATOR: base64.b64encode(TOKEN.encode()).decode()},
    )
    try:
        api.create_namespaced_secret(NAMESPACE, secret)
    except client.ApiException as exc:
        if exc.status != 409:
            raise
        api.patch_namespaced_secret("gridshift-grid-operators", NAMESPACE, {"data": secret.data})
    for name in ZONES:
        objects.create_cluster_custom_object(GROUP, VERSION, "gridzones", _zone(name))
    objects.create_cluster_custom_object(GROUP, VERSION, "migrationpolicies", _policy())
    try:
        yield Grid(stage.operator.webhook_port)
    finally:
        objects.delete_cluster_custom_object(GROUP, VERSION, "migrationpolicies", POLICY)
        for index in range(len(SIZES_KW)):
            try:
                objects.delete_namespaced_custom_object(
                    GROUP, VERSION, NS, "inferenceworkloads", f"llm-{index:02d}"
                )
            except client.ApiException as exc:
                if exc.status != 404:
                    raise
        for name in ZONES:
            objects.delete_cluster_custom_object(GROUP, VERSION, "gridzones", name)
        objects.delete_collection_namespaced_custom_object(GROUP, VERSION, NS, "migrations")
        wait_for(lambda: not _migrations(stage), timeout=180, what="the test's Migrations gone")
        wait_for(lambda: not _where(stage), timeout=60, what="the test's workloads gone")


def _calm_grid(now: datetime, *, until: dict[str, datetime] | None = None) -> list[dict[str, Any]]:
    """Every zone at the same price and no peak for the next hours: only the order moves."""
    start, end = now - timedelta(minutes=1), now + timedelta(hours=3)
    signals: list[dict[str, Any]] = []
    for zone in ZONES:
        stop = (until or {}).get(zone, end)
        common = {"zone": zone, "start": start.isoformat(), "end": stop.isoformat()}
        signals.append(
            {"type": "price", "id": f"p-{zone}-{uuid.uuid4().hex[:6]}", "value": 0.8,
             "currency": "CNY", **common}
        )  # fmt: skip
        signals.append(
            {"type": "peakLevel", "id": f"l-{zone}-{uuid.uuid4().hex[:6]}", "level": 0, **common}
        )
    return signals


def _create_workloads(stage: Stage, sizes: tuple[float, ...]) -> None:
    for index, kw in enumerate(sizes):
        stage.objects.create_namespaced_custom_object(
            GROUP, VERSION, NS, "inferenceworkloads", _workload(index, kw)
        )
    wait_for(
        lambda: all(
            (item.get("status") or {}).get("currentCluster") == "shanghai"
            and (item.get("status") or {}).get("readyReplicas") == 1
            for item in stage.objects.list_namespaced_custom_object(
                GROUP, VERSION, NS, "inferenceworkloads"
            )["items"]
        ),
        timeout=150,
        what=f"{len(sizes)} workloads placed and ready in shanghai",
    )


def _where(stage: Stage) -> dict[str, str | None]:
    found = stage.objects.list_namespaced_custom_object(GROUP, VERSION, NS, "inferenceworkloads")
    return {
        item["metadata"]["name"]: (item.get("status") or {}).get("currentCluster")
        for item in found["items"]
    }


def _migrations(stage: Stage) -> list[dict[str, Any]]:
    found = stage.objects.list_namespaced_custom_object(GROUP, VERSION, NS, "migrations")
    return list(found["items"])


def test_dispatch_order_is_shed_in_time_and_workloads_return_home(
    stage: Stage, scene: Grid
) -> None:
    """500 kW asked of Shanghai within 180 s is shed, recorded, Met; afterwards all go home."""
    scene.send(_calm_grid(datetime.now(UTC)))
    _create_workloads(stage, SIZES_KW)
    assert not _migrations(stage), "a calm grid must not move anything"

    event_id = f"dispatch-{uuid.uuid4().hex[:8]}"
    ordered_at = datetime.now(UTC)
    order = {
        "type": "drOrder",
        "id": event_id,
        "eventID": event_id,
        "zone": "shanghai",
        "start": ordered_at.isoformat(),
        "end": (ordered_at + timedelta(seconds=WINDOW_SECONDS)).isoformat(),
        "shedKW": SHED_KW,
        "responseDeadlineSeconds": 180,
        "program": "peak-shaving",
    }
    scene.send([order])

    def met() -> dict[str, Any] | None:
        events = stage.objects.list_cluster_custom_object(GROUP, VERSION, "demandresponseevents")
        for item in events["items"]:
            ours = (item["spec"].get("source") or {}).get("eventID") == event_id
            if ours and (item.get("status") or {}).get("state") in ("Met", "Missed"):
                return dict(item)
        return None

    event = wait_for(met, timeout=200, interval=2, what="the DemandResponseEvent to end Met")
    status = event["status"]
    assert status["state"] == "Met", status
    assert status["achievedKW"] >= SHED_KW
    met_at = datetime.fromisoformat(status["metAt"].replace("Z", "+00:00"))
    assert met_at - ordered_at <= timedelta(seconds=180)
    assert status["respondedAt"]
    moved = [m for m in _migrations(stage) if m["spec"]["reason"]["trigger"] == "DemandResponse"]
    assert moved
    assert all(
        m["spec"]["reason"]["demandResponseEvent"] == event["metadata"]["name"] for m in moved
    )
    assert {m["status"]["phase"] for m in moved} == {"Completed"}
    assert all(m["status"]["deadlineMet"] for m in moved)
    out = {m["spec"]["workload"] for m in moved}
    assert sum(kw for i, kw in enumerate(SIZES_KW) if f"llm-{i:02d}" in out) >= SHED_KW
    assert all(m["spec"]["toCluster"] in ("hubei", "ningxia") for m in moved)

    engine = make_engine(stage.database_url)
    try:
        with session_factory(engine)() as session:
            signals = session.scalar(
                select(func.count())
                .select_from(GridSignal)
                .where(GridSignal.external_id == event_id)
            )
            assert signals
            assert signals >= 1
            decisions = session.scalars(
                select(Decision).where(Decision.namespace == NS, Decision.action == "move")
            ).all()
            assert {d.workload for d in decisions} >= out
            recorded = session.scalars(select(Migration).where(Migration.namespace == NS)).all()
            assert {str(r.id) for r in recorded} >= {m["metadata"]["uid"] for m in moved}
    finally:
        engine.dispose()

    # the window closes; after the dwell time every workload goes home
    wait_for(
        lambda: (
            set(_where(stage).values()) == {"shanghai"}
            and all(
                (m.get("status") or {}).get("phase") in ("Completed", "RolledBack", "Failed")
                for m in _migrations(stage)
            )
        ),
        timeout=WINDOW_SECONDS + DWELL_SECONDS + 240,
        interval=3,
        what="every workload back home in shanghai",
    )
    home = [m for m in _migrations(stage) if m["spec"]["reason"]["trigger"] == "ReturnHome"]
    assert {m["spec"]["workload"] for m in home} == out
    for m in home:
        started = datetime.fromisoformat(m["status"]["startTime"].replace("Z", "+00:00"))
        assert started >= ordered_at + timedelta(seconds=WINDOW_SECONDS)


def test_a_known_peak_window_is_left_before_it_opens(stage: Stage, scene: Grid) -> None:
    """A peak announced for T (price doubled) moves the workloads at T minus the policy's lead
    time, not earlier, and they finish before T."""
    scene.send(_calm_grid(datetime.now(UTC)))
    _create_workloads(stage, (50, 40))
    now = datetime.now(UTC)
    opens = now + timedelta(seconds=LEAD_SECONDS + 45)
    closes = opens + timedelta(minutes=10)
    window = {"zone": "shanghai", "start": opens.isoformat(), "end": closes.isoformat()}
    peak = [
        {"type": "price", "id": f"pk-p-{uuid.uuid4().hex[:6]}", "value": 1.6, "currency": "CNY",
         **window},
        {"type": "peakLevel", "id": f"pk-l-{uuid.uuid4().hex[:6]}", "level": 2, **window},
    ]  # fmt: skip
    scene.send(peak)

    def left() -> list[dict[str, Any]] | None:
        moves = _migrations(stage)
        done = [m for m in moves if (m.get("status") or {}).get("phase") == "Completed"]
        return moves if moves and len(done) == len(moves) == 2 else None

    moves = wait_for(left, timeout=LEAD_SECONDS + 150, interval=2, what="both workloads moved")
    lead_starts = opens - timedelta(seconds=LEAD_SECONDS)
    for move in moves:
        assert move["spec"]["reason"]["trigger"] == "Preemptive"
        created = datetime.fromisoformat(
            move["metadata"]["creationTimestamp"].replace("Z", "+00:00")
        )
        assert created >= lead_starts - timedelta(seconds=2), "moved before the lead time"
        finished = datetime.fromisoformat(move["status"]["completionTime"].replace("Z", "+00:00"))
        assert finished < opens, f"{move['metadata']['name']} finished after the peak opened"
    assert set(_where(stage).values()) <= {"hubei", "ningxia"}

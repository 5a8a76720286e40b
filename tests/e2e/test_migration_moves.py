"""A workload moves between provinces make-before-break, inside its deadline, on the record."""

from __future__ import annotations

from datetime import datetime

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
from kube import apps, wait_for

from orchestrator.ledger.db import make_engine, session_factory
from orchestrator.ledger.migration_repo import get_migration

FORWARD = ["Pending", "Preflight", "Provisioning", "WarmingUp", "ShiftingTraffic", "Draining",
           "Releasing", "Completed"]  # fmt: skip


def _times(status: dict) -> dict[str, datetime]:  # type: ignore[type-arg]
    camel = {"warmingUp": "WarmingUp", "shiftingTraffic": "ShiftingTraffic",
             "rollingBack": "RollingBack", "rolledBack": "RolledBack"}  # fmt: skip
    return {
        camel.get(key, key[0].upper() + key[1:]): datetime.fromisoformat(value)
        for key, value in status["phaseTimes"].items()
        if value
    }


def test_a_loading_model_moves_shanghai_to_hubei_inside_its_deadline(stage: Stage) -> None:
    """20 s model load: Completed, deadline met, phases in order, ledger agrees, source at zero."""
    create_workload(stage, workload("chat-a", home="shanghai", ready_after="20s"))
    wait_placed(stage, "chat-a", "shanghai", 2)
    created = create_migration(
        stage, "chat-a-to-hubei", "chat-a", source="shanghai", target="hubei"
    )
    moved = wait_ended(stage, "chat-a-to-hubei")
    status = moved["status"]
    assert status["phase"] == "Completed", status
    assert status["deadlineMet"] is True
    assert status["durationSeconds"] < 180
    assert status["durationSeconds"] >= 20  # the target had to load its model
    times = _times(status)
    assert set(times) == set(FORWARD)  # no rollback, no failure on the way
    ordered = [times[p] for p in FORWARD]
    assert ordered == sorted(ordered)

    engine = make_engine(stage.database_url)
    with session_factory(engine).begin() as session:
        record = get_migration(session, created["metadata"]["uid"])
    engine.dispose()
    assert record is not None
    assert record.outcome == "Completed"
    assert record.deadline_met is True
    assert {p.phase: p.started_at for p in record.phases} == {p: times[p] for p in FORWARD}

    source = apps(stage.fleet.kubeconfig("shanghai")).read_namespaced_deployment("chat-a", MOVES)
    target = apps(stage.fleet.kubeconfig("hubei")).read_namespaced_deployment("chat-a", MOVES)
    assert source.spec.replicas == 0
    assert target.status.ready_replicas == 2
    placed = stage.hub.get("inferenceworkloads", "chat-a", MOVES)
    assert placed is not None
    assert placed["status"]["currentCluster"] == "hubei"
    assert placed["status"].get("activeMigration") is None
    stage.objects.delete_namespaced_custom_object(
        "gridshift.io", "v1alpha1", MOVES, "inferenceworkloads", "chat-a"
    )


def test_the_operator_serves_the_signal_webhook(stage: Stage) -> None:
    """`gridshift run` also answers grid operators: unauthenticated refused; the OpenAPI document
    and the read API are on the API port only."""
    base = f"http://127.0.0.1:{stage.operator.webhook_port}"
    api = f"http://127.0.0.1:{stage.operator.api_port}"
    wait_for(lambda: _answers(f"{base}/healthz"), timeout=30, what="the webhook to answer")
    schema = httpx.get(f"{api}/openapi.json", timeout=5).json()
    assert "/v1/signals" in schema["paths"]
    refused = httpx.post(f"{base}/v1/signals", json={"signals": []}, timeout=5)
    assert refused.status_code == 401
    for path in ("/openapi.json", "/docs", "/metrics", "/readyz", "/api/v1/zones"):
        assert httpx.get(base + path, timeout=5).status_code == 404, path


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False

"""The operator's HTTP routes as `gridshift run` serves them: health, readiness, metrics, read API.

The webhook app with the operator's router included, under uvicorn on loopback, over the fleet's
hub (cluster "shanghai", CRDs applied server-side) and the session's PostgreSQL. Readiness is
also shown failing: a ledger URL nothing listens on, a hub address nothing listens on.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from kubernetes import client
from operator_process import HUB, install_api
from prometheus_client.parser import text_string_to_metric_families
from served import serve as served_on

from orchestrator import metrics
from orchestrator.api.common import API_VERSION, GROUP, VERSION
from orchestrator.clusters.hub import HubClient
from orchestrator.clusters.kube import client_from_file
from orchestrator.controller.http import router
from orchestrator.controller.web import build_api_app
from orchestrator.devenv import Fleet
from orchestrator.devenv.procs import free_port
from orchestrator.ledger.handle import Ledger
from orchestrator.ledger.records import MigrationSnapshot, PhaseSpan
from orchestrator.ledger.schema import upgrade_to_head
from orchestrator.signals.auth import TokenStore
from orchestrator.signals.directory import ZoneDirectory
from orchestrator.signals.ingest import Ingestor
from orchestrator.signals.webhook import create_app

RUN = uuid.uuid4().hex[:6]
NS = f"http-{RUN}"
LIMIT = 4096


def app(hub: HubClient, ledger: Ledger) -> FastAPI:
    """The API port's app (the operator's routes), composed as `gridshift run` does."""
    ingestor = Ingestor(
        ledger=ledger,
        zones=ZoneDirectory(),
        tokens=TokenStore(),
        clock=lambda: datetime.now(UTC),
    )
    return build_api_app(
        webhook=create_app(ingestor, body_limit=LIMIT),
        operator=router(hub=hub, ledger=ledger, ready_ttl_seconds=0.5),
    )


@contextmanager
def serve(served: FastAPI) -> Iterator[httpx.Client]:
    """``served`` on a free loopback port, and a client for it."""
    with served_on(served) as url, httpx.Client(base_url=url, timeout=20) as http:
        yield http


@dataclass
class Env:
    fleet: Fleet
    hub: HubClient
    ledger: Ledger
    http: httpx.Client

    @property
    def objects(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.hub.api)


def _body(
    kind: str, name: str, spec: dict[str, Any], namespace: str | None = None
) -> dict[str, Any]:
    meta: dict[str, str] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": meta, "spec": spec}


WORKLOAD_SPEC: dict[str, Any] = {
    "template": {
        "replicas": 1,
        "template": {"spec": {"containers": [{"name": "s", "image": "registry.invalid/m:1"}]}},
    },
    "power": {"gpusPerReplica": 1, "wattsPerGPU": 700},
    "placement": {"homeCluster": f"sh-{RUN}"},
}


@pytest.fixture(scope="module")
def env(fleet: Fleet, database_url: str) -> Iterator[Env]:
    """CRDs in the hub; a zone, a cluster, a workload and a Migration of this module's own."""
    install_api(fleet)
    upgrade_to_head(database_url)
    hub = HubClient(client_from_file(fleet.kubeconfig(HUB)))
    core = client.CoreV1Api(hub.api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NS)))
    objects = client.CustomObjectsApi(hub.api)
    zone = {"currency": "CNY", "timezone": "Asia/Shanghai"}
    objects.create_cluster_custom_object(
        GROUP, VERSION, "gridzones", _body("GridZone", f"zone-{RUN}", zone)
    )
    member = {"zone": f"zone-{RUN}", "kubeconfigSecretRef": {"name": "m", "namespace": NS}}
    objects.create_cluster_custom_object(
        GROUP, VERSION, "memberclusters", _body("MemberCluster", f"sh-{RUN}", member)
    )
    objects.create_namespaced_custom_object(
        GROUP, VERSION, NS, "inferenceworkloads",
        _body("InferenceWorkload", "chat", WORKLOAD_SPEC, NS),
    )  # fmt: skip
    move = {"workload": "chat", "fromCluster": f"sh-{RUN}", "toCluster": f"hb-{RUN}"}
    objects.create_namespaced_custom_object(
        GROUP, VERSION, NS, "migrations", _body("Migration", "chat-away", move, NS)
    )
    ledger = Ledger(database_url)
    try:
        with serve(app(hub, ledger)) as http:
            yield Env(fleet, hub, ledger, http)
    finally:
        ledger.close()
        fleet.kubectl(HUB, "delete", "namespace", NS, "--wait=false", "--ignore-not-found")
        for kind, name in (("gridzone", f"zone-{RUN}"), ("membercluster", f"sh-{RUN}")):
            fleet.kubectl(HUB, "delete", kind, name, "--wait=false", "--ignore-not-found")


# -- health and readiness --------------------------------------------------------------------


def test_healthz_answers_while_the_loop_runs(env: Env) -> None:
    """Liveness: 200 from the server's own loop."""
    answer = env.http.get("/healthz")
    assert answer.status_code == 200
    assert answer.text == "ok"


def test_readyz_is_ready_with_the_real_hub_and_ledger(env: Env) -> None:
    """Both checks pass against the real API server and PostgreSQL."""
    answer = env.http.get("/readyz")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"ready": True, "checks": {"ledger": "ok", "hub": "ok"}}


def test_readyz_names_an_unreachable_ledger(env: Env) -> None:
    """A ledger nobody answers for: 503, the reason names the ledger, the hub still ok."""
    dead = Ledger(
        f"postgresql+psycopg://gridshift:none@127.0.0.1:{free_port()}/gridshift",
        connect_timeout_seconds=2,
    )
    try:
        with serve(app(env.hub, dead)) as http:
            answer = http.get("/readyz")
    finally:
        dead.close()
    assert answer.status_code == 503
    body = answer.json()
    assert body["ready"] is False
    assert body["checks"]["hub"] == "ok"
    assert body["checks"]["ledger"] != "ok"
    assert body["reason"].startswith("ledger: ")


def test_readyz_names_an_unreachable_hub(env: Env) -> None:
    """A hub address nothing listens on: 503 naming the hub; the read API answers 503 too."""
    config = client.Configuration()
    config.host = f"https://127.0.0.1:{free_port()}"
    gone = HubClient(client.ApiClient(config))
    with serve(app(gone, env.ledger)) as http:
        ready = http.get("/readyz")
        listed = http.get("/api/v1/zones")
    assert ready.status_code == 503
    assert ready.json()["checks"]["ledger"] == "ok"
    assert "hub: " in ready.json()["reason"]
    assert listed.status_code == 503
    assert "the hub is unavailable" in listed.json()["detail"]


# -- the read API ----------------------------------------------------------------------------


def _names(answer: httpx.Response) -> set[str]:
    assert answer.status_code == 200, answer.text
    return {item["name"] for item in answer.json()["items"]}


def test_zones_and_clusters_are_listed_with_spec_and_status(env: Env) -> None:
    """Each object as name, spec and status; clusters filter by zone."""
    zones = env.http.get("/api/v1/zones").json()["items"]
    mine = next(z for z in zones if z["name"] == f"zone-{RUN}")
    assert mine["spec"]["timezone"] == "Asia/Shanghai"
    assert "namespace" not in mine
    assert mine["status"] == {}
    assert _names(env.http.get("/api/v1/clusters", params={"zone": f"zone-{RUN}"})) == {f"sh-{RUN}"}
    assert _names(env.http.get("/api/v1/clusters", params={"zone": "nowhere"})) == set()


def test_workloads_and_migrations_filter_by_namespace_and_phase(env: Env) -> None:
    """Namespaced kinds carry their namespace; filters narrow the list, never widen it."""
    workloads = env.http.get("/api/v1/workloads", params={"namespace": NS}).json()["items"]
    assert [(w["namespace"], w["name"]) for w in workloads] == [(NS, "chat")]
    assert workloads[0]["spec"]["placement"]["homeCluster"] == f"sh-{RUN}"
    assert _names(env.http.get("/api/v1/migrations", params={"namespace": NS})) == {"chat-away"}
    by_cluster = {"namespace": NS, "cluster": f"hb-{RUN}", "phase": "Pending"}
    assert _names(env.http.get("/api/v1/migrations", params=by_cluster)) == {"chat-away"}
    done = {"namespace": NS, "phase": "Completed"}
    assert _names(env.http.get("/api/v1/migrations", params=done)) == set()


def test_history_reads_the_ledger_and_the_write_lag_is_measured(env: Env) -> None:
    """A move written to the ledger is listed with its phases; the write observed its lag."""
    started = datetime.now(UTC) - timedelta(seconds=50)
    snapshot = MigrationSnapshot(
        uid=str(uuid.uuid4()), namespace=NS, name="chat-history", workload="chat",
        from_cluster=f"sh-{RUN}", to_cluster=f"hb-{RUN}", reason="test", trigger="Manual",
        deadline_seconds=180, started_at=started, replicas=1, kw_moved=0.7,
        phases=(PhaseSpan("Pending", started, started + timedelta(seconds=1)),
                PhaseSpan("Completed", started + timedelta(seconds=40),
                          started + timedelta(seconds=40))),
        outcome="Completed", finished_at=started + timedelta(seconds=40), deadline_met=True,
    )  # fmt: skip
    lags = metrics.REGISTRY.get_sample_value(
        "gridshift_ledger_write_lag_seconds_count", {"record": "outcome"}
    )
    lag_sum = metrics.REGISTRY.get_sample_value(
        "gridshift_ledger_write_lag_seconds_sum", {"record": "outcome"}
    )
    env.ledger.record(snapshot)
    assert (
        metrics.REGISTRY.get_sample_value(
            "gridshift_ledger_write_lag_seconds_count", {"record": "outcome"}
        )
        == (lags or 0) + 1
    )
    observed = (
        metrics.REGISTRY.get_sample_value(
            "gridshift_ledger_write_lag_seconds_sum", {"record": "outcome"}
        )
        or 0
    ) - (lag_sum or 0)
    assert 10 <= observed < 600  # the move ended ~10 s before this write
    answer = env.http.get(
        "/api/v1/migrations", params={"history": "1", "namespace": NS, "workload": "chat"}
    )
    assert answer.status_code == 200, answer.text
    [item] = answer.json()["items"]
    assert item["uid"] == snapshot.uid
    assert item["outcome"] == "Completed"
    assert item["deadlineMet"] is True
    assert item["durationSeconds"] == pytest.approx(40)
    assert [p["phase"] for p in item["phases"]] == ["Pending", "Completed"]
    # the live list does not read the ledger
    assert "chat-history" not in _names(
        env.http.get("/api/v1/migrations", params={"namespace": NS})
    )


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/api/v1/workloads", {"namespace": "Not_A_Namespace"}, "namespace"),
        ("/api/v1/migrations", {"phase": "Flying"}, "phase"),
        ("/api/v1/migrations", {"history": "maybe"}, "history"),
        ("/api/v1/migrations", {"history": "1", "limit": "0"}, "limit"),
        ("/api/v1/migrations", {"limit": "100000"}, "limit"),
        ("/api/v1/migrations", {"histroy": "1"}, "histroy"),
        ("/api/v1/zones", {"namespace": NS}, "namespace"),
        ("/api/v1/clusters", {"zone": "x" * 64}, "zone"),
    ],
)
def test_bad_query_parameters_are_answered_422_naming_them(
    env: Env, path: str, params: dict[str, str], field: str
) -> None:
    """Out of range, not in the set, or unknown (a typo): 422 with the parameter's name."""
    answer = env.http.get(path, params=params)
    assert answer.status_code == 422, answer.text
    detail = answer.json()["detail"]
    assert any(item["loc"] == ["query", field] for item in detail), detail
    assert all(item["msg"] for item in detail)


# -- metrics ---------------------------------------------------------------------------------


def test_metrics_are_served_and_count_refused_signals(env: Env) -> None:
    """The exposition parses; an unauthenticated and an oversized request to the webhook's own
    port are counted; the API port does not take signals."""

    def count(result: str) -> float:
        families = text_string_to_metric_families(env.http.get("/metrics").text)
        for family in families:
            if family.name == "gridshift_signals":
                for sample in family.samples:
                    if sample.name.endswith("_total") and sample.labels == {
                        "source": "native",
                        "result": result,
                    }:
                        return sample.value
        raise AssertionError(f"no gridshift_signals_total for result={result}")

    answer = env.http.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    auth, large = count("rejected_auth"), count("too_large")
    assert env.http.post("/v1/signals", json={"signals": []}).status_code == 404
    ingestor = Ingestor(
        ledger=env.ledger,
        zones=ZoneDirectory(),
        tokens=TokenStore(),
        clock=lambda: datetime.now(UTC),
    )
    with serve(create_app(ingestor, body_limit=LIMIT)) as webhook:
        assert webhook.post("/v1/signals", json={"signals": []}).status_code == 401
        assert webhook.post("/v1/signals", content=b"{" * (LIMIT + 1)).status_code == 413
    assert count("rejected_auth") == auth + 1
    assert count("too_large") == large + 1

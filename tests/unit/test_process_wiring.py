"""`gridshift run` is built in one place, in order, and serves one HTTP app.

Building the process calls nothing: the hub and the ledger here are addresses nobody answers
on, and the build must still finish (clients connect lazily). What it yields is checked as the
operator uses it: one app whose OpenAPI document holds the webhook's operations (with their
schemas and bearer security) beside the operator's routes.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import kopf
import pytest
import yaml
from fastapi.testclient import TestClient

from orchestrator.controller.process import Process, build
from orchestrator.settings import Settings

pytestmark = pytest.mark.unit


def unreachable_kubeconfig(path: Path) -> Path:
    """A kubeconfig naming a loopback port nothing listens on."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "hub", "cluster": {"server": "https://127.0.0.1:9"}}],
        "users": [{"name": "hub", "user": {"token": "t"}}],
        "contexts": [{"name": "hub", "context": {"cluster": "hub", "user": "hub"}}],
        "current-context": "hub",
    }
    path.write_text(yaml.safe_dump(config))
    return path


def built(tmp_path: Path) -> Process:
    settings = Settings(
        kubeconfig=unreachable_kubeconfig(tmp_path / "hub.yaml"),
        database_url="postgresql+psycopg://gridshift@127.0.0.1:9/gridshift",
        leader_election=False,
    )

    async def inside_the_loop() -> Process:
        async with httpx.AsyncClient() as http:
            return build(settings, http=http)

    return asyncio.run(inside_the_loop())


def test_the_process_is_built_without_calling_anything(tmp_path: Path) -> None:
    """Every part is constructed before the loop runs anything: no I/O at build time."""
    process = built(tmp_path)
    assert process.leadership.is_leader()  # election off: this replica leads alone
    assert isinstance(process.handlers, kopf.OperatorRegistry)


def test_one_app_serves_the_webhook_and_the_operator(tmp_path: Path) -> None:
    """One OpenAPI document: the webhook's operations as it describes them, and the read API."""
    document = built(tmp_path).api_app.openapi()
    paths = document["paths"]
    assert {"/v1/signals", "/openadr/callback", "/healthz"} <= set(paths)
    assert {"/metrics", "/readyz", "/api/v1/zones", "/api/v1/migrations"} <= set(paths)
    assert paths["/v1/signals"]["post"]["security"] == [{"bearer": []}]
    assert "SignalBatch" in document["components"]["schemas"]
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_the_webhook_port_serves_no_read_api_metrics_or_docs(tmp_path: Path) -> None:
    """The webhook's app (the port the Ingress reaches) answers 404 for the read API, /metrics,
    /readyz, /docs and /openapi.json; the API port's app serves them."""
    process = built(tmp_path)
    hidden = ["/api/v1/zones", "/api/v1/migrations", "/metrics", "/readyz", "/docs",
              "/openapi.json", "/redoc"]  # fmt: skip
    with TestClient(process.webhook_app) as webhook:
        for path in hidden:
            assert webhook.get(path).status_code == 404, path
        assert webhook.get("/healthz").status_code == 200
        assert webhook.post("/v1/signals", json={"signals": []}).status_code == 401
    with TestClient(process.api_app) as api:
        assert api.get("/openapi.json").status_code == 200
        assert api.get("/docs").status_code == 200
        assert api.get("/metrics").status_code == 200
        assert api.get("/healthz").status_code == 200
        assert api.post("/v1/signals", json={"signals": []}).status_code in (404, 405)

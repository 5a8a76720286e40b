"""The process's two HTTP apps, and the uvicorn servers that serve them in the operator's loop.

``gridshift run`` serves two ports, so that exposing one never exposes the other:

- ``webhook_host:webhook_port``: the signal webhook alone (``POST /v1/signals``,
  ``/openadr/callback``, ``/healthz``; see :mod:`orchestrator.signals.webhook`), the one thing
  grid operators reach (the chart's Ingress routes its two paths and nothing else);
- ``api_host:api_port``: what :func:`build_api_app` puts together: the operator's routes
  (``/metrics``, ``/readyz``, ``/api/v1/...``; see :mod:`orchestrator.controller.http`),
  ``/healthz``, ``/docs`` and one OpenAPI document (``/openapi.json``) where the webhook's
  operations read as the webhook describes them (schemas, bearer security), for the cluster's
  own clients: probes, Prometheus, the CLI.

Every replica serves both, leader or not.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import uvicorn
from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import PlainTextResponse

from orchestrator.settings import Settings
from orchestrator.signals.webhook import BodyLimit

TITLE = "gridshift"
VERSION = "v1"
DESCRIPTION = (
    "Grid signals in (native JSON and OpenADR 3 notifications, served on the webhook port); "
    "the operator's read API, readiness and Prometheus metrics (served on the API port)."
)


class App(FastAPI):
    """The API port's app: its OpenAPI document adds the webhook's operations as they are."""

    def __init__(self, *, webhook: FastAPI) -> None:
        super().__init__(title=TITLE, version=VERSION, description=DESCRIPTION)
        self.webhook = webhook

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            document = get_openapi(
                title=self.title,
                version=self.version,
                description=self.description,
                routes=self.routes,
            )
            signals = self.webhook.openapi()
            document["paths"].update(signals.get("paths", {}))
            components = document.setdefault("components", {})
            for part, found in signals.get("components", {}).items():
                components.setdefault(part, {}).update(found)
            self.openapi_schema = document
        return self.openapi_schema


def build_api_app(*, webhook: FastAPI, operator: APIRouter) -> FastAPI:
    """The API port's app: ``operator``'s routes, liveness, and the OpenAPI of both ports."""
    app = App(webhook=webhook)
    app.include_router(operator)

    @app.get("/healthz", response_class=PlainTextResponse, summary="Liveness")
    async def healthz() -> PlainTextResponse:
        return PlainTextResponse("ok")

    app.add_middleware(BodyLimit, limit=64 * 1024)
    return app


class EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves process signals to its host (the operator's loop)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def server(app: FastAPI, settings: Settings, *, host: str, port: int) -> uvicorn.Server:
    """A uvicorn server for ``app`` on ``host:port``, inside the operator's loop.

    It does not take over SIGINT/SIGTERM: the operator stops it by setting ``should_exit``. Its
    logs go through the operator's logging (text or JSON, ``orchestrator.logs``).
    """
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        log_config=None,
        access_log=False,
        lifespan="off",
    )
    return EmbeddedServer(config)

"""The process's one HTTP app, and the uvicorn server that serves it in the operator's loop.

:func:`build_app` puts together what ``gridshift run`` serves on ``webhook_host:webhook_port``:
the signal webhook's routes (``POST /v1/signals``, ``/openadr/callback``, ``/healthz``; see
:mod:`orchestrator.signals.webhook`) and the operator's (``/metrics``, ``/readyz``,
``/api/v1/...``; see :mod:`orchestrator.controller.http`), behind the webhook's body limit, in
one OpenAPI document (``/openapi.json``) where the webhook's operations read as the webhook
describes them (schemas, bearer security). Every replica serves it, leader or not.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import uvicorn
from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from orchestrator.settings import Settings
from orchestrator.signals.webhook import BodyLimit

TITLE = "gridshift"
VERSION = "v1"
DESCRIPTION = (
    "Grid signals in (native JSON and OpenADR 3 notifications); the operator's read API, "
    "readiness and Prometheus metrics."
)


class App(FastAPI):
    """The process's app: its OpenAPI document takes the webhook's operations as they are."""

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


def build_app(*, webhook: FastAPI, operator: APIRouter, body_limit: int) -> FastAPI:
    """One app: the routes of ``webhook`` (the signals package's app), then ``operator``'s."""
    app = App(webhook=webhook)
    app.router.routes.extend(r for r in webhook.routes if isinstance(r, APIRoute))
    app.include_router(operator)
    app.add_middleware(BodyLimit, limit=body_limit)
    return app


class EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves process signals to its host (the operator's loop)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def server(app: FastAPI, settings: Settings) -> uvicorn.Server:
    """A uvicorn server for ``app`` on the configured address, inside the operator's loop.

    It does not take over SIGINT/SIGTERM: the operator stops it by setting ``should_exit``. Its
    logs go through the operator's logging (text or JSON, ``orchestrator.logs``).
    """
    config = uvicorn.Config(
        app,
        host=settings.webhook_host,
        port=settings.webhook_port,
        log_level=settings.log_level.lower(),
        log_config=None,
        access_log=False,
        lifespan="off",
    )
    return EmbeddedServer(config)

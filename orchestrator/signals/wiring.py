"""Put the signals package together from settings and the layers it must not import.

:func:`build` returns the webhook app and the service over the ledger, one zone directory and
one token store; :func:`server` wraps the app in a uvicorn server for the operator's loop.
See the package docstring for how ``gridshift run`` uses them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import uvicorn
from fastapi import FastAPI

from orchestrator.api.common import SecretKeyRef
from orchestrator.errors import SignalError
from orchestrator.ledger.handle import Ledger
from orchestrator.settings import Settings
from orchestrator.signals.auth import TokenStore
from orchestrator.signals.directory import Hub, ZoneDirectory
from orchestrator.signals.feeds import FeedPoller, schedule_for
from orchestrator.signals.ingest import Ingestor
from orchestrator.signals.outbound import Outbound
from orchestrator.signals.processor import Processor
from orchestrator.signals.service import SignalService
from orchestrator.signals.webhook import create_app


def utcnow() -> datetime:
    """The wall clock, in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Signals:
    """The assembled package: serve ``app``, start and stop ``service``."""

    app: FastAPI
    service: SignalService
    ingestor: Ingestor
    processor: Processor


FEED_SECRET_LABEL = "gridshift.io/feed-credentials"  # noqa: S105  # a label key, no secret
"""Only Secrets labelled ``gridshift.io/feed-credentials: "true"`` are read for feeds."""


def secret_reader(hub: Hub) -> Callable[[SecretKeyRef], str]:
    """Read one key of a feed's Secret through ``hub``; ``SignalError`` when it is missing or
    not labelled for feeds (so a GridZone cannot send, say, the database URL to its feed)."""

    def read(ref: SecretKeyRef) -> str:
        labels = hub.secret_labels(ref.namespace, ref.name)
        if labels.get(FEED_SECRET_LABEL) != "true":
            raise SignalError(
                f"Secret {ref.namespace}/{ref.name} is not labelled {FEED_SECRET_LABEL}=true; "
                "feeds read only Secrets labelled for them"
            )
        value = hub.secret_data(ref.namespace, ref.name).get(ref.key)
        if value is None:
            raise SignalError(f"Secret {ref.namespace}/{ref.name} has no key {ref.key!r}")
        return value

    return read


def build(
    settings: Settings,
    *,
    ledger: Ledger,
    hub: Hub,
    http: httpx.AsyncClient,
    leader: Callable[[], bool],
    clock: Callable[[], datetime] = utcnow,
) -> Signals:
    """Everything the signals package runs, wired to the given ledger, hub and clock."""
    zones, tokens = ZoneDirectory(), TokenStore()
    horizon = timedelta(seconds=settings.signal_horizon_seconds)
    ingestor = Ingestor(
        ledger=ledger,
        zones=zones,
        tokens=tokens,
        clock=clock,
        replay_window_seconds=settings.webhook_replay_window_seconds,
        horizon=horizon,
    )
    processor = Processor(
        ledger=ledger,
        hub=hub,
        clock=clock,
        lookback=timedelta(seconds=settings.signal_lookback_seconds),
        horizon=horizon,
        schedules=schedule_for,
    )
    feeds = FeedPoller(
        http=http,
        secrets=secret_reader(hub),
        clock=clock,
        outbound=Outbound(settings.feed_allowed_hosts),
        timeout_seconds=settings.feed_timeout_seconds,
    )
    service = SignalService(
        ingestor=ingestor,
        processor=processor,
        hub=hub,
        zones=zones,
        tokens=tokens,
        feeds=feeds,
        leader=leader,
        namespace=settings.namespace,
        token_secret=settings.webhook_token_secret,
        reconcile_seconds=settings.signal_reconcile_seconds,
        refresh_seconds=settings.zone_refresh_seconds,
        callback_url=settings.openadr_callback_url,
        client_name=settings.openadr_client_name,
    )
    app = create_app(
        ingestor,
        body_limit=settings.webhook_body_limit_bytes,
        read_seconds=settings.webhook_body_timeout_seconds,
        max_concurrent=settings.webhook_max_concurrent_bodies,
    )
    return Signals(app, service, ingestor, processor)


class EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves process signals to its host (the operator's kopf loop)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def server(app: FastAPI, settings: Settings, *, embedded: bool = False) -> uvicorn.Server:
    """A uvicorn server for ``app`` on the configured address; ``await server.serve()``.

    ``embedded`` servers run inside another program's event loop and do not take over
    SIGINT/SIGTERM: the host stops them by setting ``should_exit``; their logs go through the
    host's logging (text or JSON, ``orchestrator.logs``), not uvicorn's own format.
    """
    config = uvicorn.Config(
        app,
        host=settings.webhook_host,
        port=settings.webhook_port,
        log_level=settings.log_level.lower(),
        log_config=None if embedded else uvicorn.config.LOGGING_CONFIG,
        access_log=False,
        lifespan="off",
    )
    return EmbeddedServer(config) if embedded else uvicorn.Server(config)

"""The operator process: kopf handlers, the member registry and the migration engine in one
asyncio loop, against a hub cluster and the ledger's PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import kopf

from orchestrator.clusters.httproute import HTTPRoutes
from orchestrator.clusters.hub import HubClient
from orchestrator.clusters.kube import client_from_file
from orchestrator.clusters.registry import MemberRegistry
from orchestrator.clusters.zones import HubZones
from orchestrator.controller import members, migrations, workloads
from orchestrator.controller.context import Context
from orchestrator.errors import ConfigError, LedgerError
from orchestrator.ledger import repository
from orchestrator.ledger.db import session_factory
from orchestrator.ledger.schema import upgrade_to_head
from orchestrator.ledger.writer import LedgerWriter
from orchestrator.migration.engine import Engine
from orchestrator.migration.routers.base import NoRouter, TrafficRouter
from orchestrator.migration.routers.gateway_api import GatewayAPIRouter
from orchestrator.settings import Settings
from orchestrator.signals.wiring import build as build_signals
from orchestrator.signals.wiring import server

log = logging.getLogger(__name__)
PREFIX = "gridshift.io"


def build_registry() -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        # KUBECONFIG names the hub (set from settings in run()); in a Pod, the ServiceAccount
        if os.environ.get("KUBECONFIG"):
            return kopf.login_with_kubeconfig(**kwargs)
        return kopf.login_with_service_account(**kwargs)

    @kopf.on.startup(registry=registry)
    async def startup(settings: kopf.OperatorSettings, memo: Context, **_: Any) -> None:
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=PREFIX)
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=PREFIX)
        settings.persistence.finalizer = f"{PREFIX}/ledger"
        settings.watching.server_timeout = 60
        settings.posting.level = logging.WARNING
        await members.prime(memo)

    @kopf.on.cleanup(registry=registry)
    async def cleanup(memo: Context, **_: Any) -> None:
        memo.registry.close()
        memo.ledger.close()

    members.setup(registry)
    workloads.setup(registry)
    migrations.setup(registry)
    return registry


def build_routers(settings: Settings, hub: HubClient) -> dict[str, TrafficRouter]:
    """Every router by the name MemberClusters use; the edge is the hub unless configured."""
    edge = client_from_file(settings.edge_kubeconfig) if settings.edge_kubeconfig else hub.api
    return {
        "None": NoRouter(),
        "GatewayAPI": GatewayAPIRouter(HTTPRoutes(edge, cluster="edge")),
    }


def build_context(settings: Settings) -> Context:
    if settings.database_url is None:
        raise ConfigError("GRIDSHIFT_DATABASE_URL is not set: gridshift records every move")
    if settings.kubeconfig is None:
        raise ConfigError("GRIDSHIFT_KUBECONFIG is not set: the hub cluster is unknown")
    hub = HubClient(client_from_file(settings.kubeconfig))
    registry = MemberRegistry()
    ledger = LedgerWriter(settings.database_url.get_secret_value())
    engine = Engine(
        hub=hub,
        registry=registry,
        ledger=ledger,
        routers=build_routers(settings, hub),
        pauses=settings.fault_pause_seconds,
    )
    return Context(settings=settings, hub=hub, registry=registry, ledger=ledger, engine=engine)


def run(settings: Settings) -> None:
    """Run the operator until it is stopped (SIGINT/SIGTERM)."""
    if settings.kubeconfig is not None:
        os.environ["KUBECONFIG"] = str(settings.kubeconfig)
    if settings.database_url is not None:
        try:
            upgrade_to_head(settings.database_url.get_secret_value())
        except LedgerError as exc:
            log.warning("ledger schema not upgraded at start (moves proceed; rows wait): %s", exc)
    context = build_context(settings)
    registry = build_registry()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        # every Kubernetes and ledger call runs in a thread: size the pool for many moves at once
        loop.set_default_executor(ThreadPoolExecutor(max_workers=64, thread_name_prefix="io"))
        context.registry.bind(loop)
        async with httpx.AsyncClient() as http:
            signals = build_signals(
                settings,
                repository=repository,
                sessions=session_factory(context.ledger.engine),
                hub=HubZones(context.hub.api),
                http=http,
                leader=lambda: True,  # one replica today; leader election comes with packaging
            )
            await signals.service.start()
            web = server(signals.app, settings, embedded=True)
            serving = asyncio.create_task(web.serve(), name="webhook")
            try:
                await kopf.operator(
                    registry=registry, memo=context, standalone=True, clusterwide=True
                )
            finally:
                web.should_exit = True
                await asyncio.gather(serving, return_exceptions=True)
                await signals.service.stop()

    asyncio.run(main())

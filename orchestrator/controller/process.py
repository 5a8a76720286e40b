"""The operator process, built once, in order, each part handed its real dependencies.

:func:`build` is the one place ``gridshift run`` is put together::

    hub client -> ledger -> engine (members, capacity book, recorder, routers) -> leadership
      -> signals -> DR reporter -> planner -> kopf handlers -> the webhook and API apps

Every part is complete when the next one is built: nothing is filled in later, nothing is set
by assignment after the fact. The kopf handlers get their dependencies as arguments of their
module's ``setup`` (no ``memo``); the planner gets its DemandResponse reporter, which gets the
signals service it reports through. :mod:`orchestrator.controller.operator` runs the result.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import kopf
from fastapi import FastAPI

from orchestrator.clusters.edge import EdgeBackends
from orchestrator.clusters.httproute import HTTPRoutes
from orchestrator.clusters.hub import HubClient
from orchestrator.clusters.kube import client_from_file, client_in_cluster, token_file
from orchestrator.clusters.lease import LeaderElector, Leadership, LeaseClient, SoleLeader
from orchestrator.clusters.registry import MemberRegistry
from orchestrator.controller import members, migrations, planner_loop, workloads
from orchestrator.controller.dr import DemandResponses, vtn_report
from orchestrator.controller.http import router as operator_routes
from orchestrator.controller.planner_loop import Planner
from orchestrator.controller.web import build_api_app
from orchestrator.errors import ClusterError, ConfigError
from orchestrator.ledger.handle import Ledger
from orchestrator.migration.capacity import CapacityBook
from orchestrator.migration.recorder import Recorder
from orchestrator.migration.routers.base import NoRouter, TrafficRouter
from orchestrator.migration.routers.gateway_api import GatewayAPIRouter, ParentRef
from orchestrator.migration.routers.traefik import TraefikDataPlane
from orchestrator.settings import Settings
from orchestrator.signals.service import SignalService
from orchestrator.signals.wiring import build as build_signals

PREFIX = "gridshift.io"


@dataclass(frozen=True)
class Process:
    """What :mod:`~orchestrator.controller.operator` runs: everything else lives inside these."""

    settings: Settings
    leadership: Leadership
    """This replica's Lease election (or a sole leader)."""
    signals: SignalService
    """The signal jobs and processing; started on every replica, jobs run in the leader only."""
    handlers: kopf.OperatorRegistry
    """The kopf handlers (members, workloads, migrations, the planner), run while leading."""
    webhook_app: FastAPI
    """The signal webhook, served on ``webhook_port`` by every replica."""
    api_app: FastAPI
    """The read API, metrics, readiness and OpenAPI, served on ``api_port`` by every replica."""


def build(settings: Settings, *, http: httpx.AsyncClient) -> Process:
    """Build the process inside the running event loop; ``http`` is the feeds' client."""
    if settings.database_url is None:
        raise ConfigError("GRIDSHIFT_DATABASE_URL is not set: gridshift records every move")
    # the hub: a kubeconfig when given, else the Pod's ServiceAccount (gridshift runs in the hub)
    api = client_from_file(settings.kubeconfig) if settings.kubeconfig else client_in_cluster()
    hub = HubClient(api)
    ledger = Ledger(settings.database_url.get_secret_value())
    cluster_members = MemberRegistry(asyncio.get_running_loop())
    capacity = CapacityBook(cluster_members)
    recorder = Recorder(hub=hub, ledger=ledger)
    routers = build_routers(settings, hub, http=http)
    leadership = build_leadership(settings, hub)
    signals = build_signals(
        settings,
        ledger=ledger,
        hub=hub,
        http=http,
        leader=leadership.is_leader,
    )
    dr = DemandResponses(hub, ledger, report=vtn_report(signals.service))  # DR outcomes to the VTN
    planner = Planner(
        hub=hub, ledger=ledger, dr=dr, interval_seconds=settings.planner_interval_seconds
    )
    handlers = build_handlers(
        hub=hub,
        ledger=ledger,
        cluster_members=cluster_members,
        planner=planner,
        capacity=capacity,
        recorder=recorder,
        routers=routers,
        http=http,
        pauses=settings.fault_pause_seconds,
    )
    api_app = build_api_app(webhook=signals.app, operator=operator_routes(hub=hub, ledger=ledger))
    return Process(settings, leadership, signals.service, handlers, signals.app, api_app)


def build_routers(
    settings: Settings, hub: HubClient, *, http: httpx.AsyncClient
) -> dict[str, TrafficRouter]:
    """Every router by the name MemberClusters use; the edge is the hub unless configured."""
    edge = client_from_file(settings.edge_kubeconfig) if settings.edge_kubeconfig else hub.api
    namespace, _, name = settings.edge_gateway.rpartition("/")
    url = settings.edge_dataplane_url
    return {
        "None": NoRouter(),
        "GatewayAPI": GatewayAPIRouter(
            HTTPRoutes(edge, cluster="edge"),
            EdgeBackends(edge, cluster="edge"),
            parent=ParentRef(name, namespace=namespace or None),
            dataplane=TraefikDataPlane(http, str(url)) if url is not None else None,
            step_timeout_seconds=settings.traffic_step_timeout_seconds,
        ),
    }


def build_leadership(settings: Settings, hub: HubClient) -> Leadership:
    """The Lease election of this replica, or a sole leader when election is turned off."""
    identity = settings.pod_name or f"{socket.gethostname()}_{os.getpid()}"
    if not settings.leader_election:
        return SoleLeader(identity)
    leases = LeaseClient(
        hub.api,
        namespace=settings.namespace,
        name=settings.lease_name,
        timeout=float(settings.lease_renew_seconds),
    )
    return LeaderElector(
        leases,
        identity=identity,
        duration_seconds=settings.lease_duration_seconds,
        renew_seconds=settings.lease_renew_seconds,
        retry_seconds=settings.lease_retry_seconds,
    )


def build_handlers(
    *,
    hub: HubClient,
    ledger: Ledger,
    cluster_members: MemberRegistry,
    planner: Planner,
    capacity: CapacityBook,
    recorder: Recorder,
    routers: Mapping[str, TrafficRouter],
    http: httpx.AsyncClient,
    pauses: Mapping[str, float],
) -> kopf.OperatorRegistry:
    """The kopf handlers over these parts; at start-up the members are registered before any
    migration resumes and the planner starts; at clean-up it stops and the clients close."""
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        # KUBECONFIG names the hub (set from settings in run()); in a Pod, the ServiceAccount
        kubeconfig = os.environ.get("KUBECONFIG")
        if not kubeconfig:
            return kopf.login_with_service_account(**kwargs)
        info = kopf.login_with_kubeconfig(**kwargs)
        path = token_file(Path(kubeconfig))
        if info is None or info.token or path is None:
            return info
        # kopf ignores `tokenFile` (the chart's kubeconfig names the Pod's token): read it, again
        # at each login kopf repeats after a 401, so that a rotated token is picked up
        try:
            token = path.read_text().strip()
        except OSError as exc:
            raise ClusterError(f"cannot read the hub token {path}: {exc}") from exc
        return dataclasses.replace(info, token=token)

    @kopf.on.startup(registry=registry)
    async def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=PREFIX)
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=PREFIX)
        settings.persistence.finalizer = f"{PREFIX}/ledger"
        settings.watching.server_timeout = 60
        settings.posting.level = logging.WARNING
        await members.prime(hub, cluster_members)
        await planner.start()

    @kopf.on.cleanup(registry=registry)
    async def cleanup(**_: Any) -> None:
        await planner.stop()
        cluster_members.close()
        ledger.close()

    members.setup(registry, hub=hub, members=cluster_members)
    workloads.setup(registry, hub=hub, members=cluster_members, routers=routers)
    migrations.setup(
        registry,
        hub=hub,
        members=cluster_members,
        capacity=capacity,
        recorder=recorder,
        routers=routers,
        http=http,
        pauses=pauses,
    )
    planner_loop.setup(registry, planner=planner)
    return registry

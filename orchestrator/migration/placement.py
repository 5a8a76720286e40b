"""Where a workload runs during one move: what the move does in the clusters and at the edge.

:class:`Placement` holds no state of the move: every call is idempotent and names a target
state (the Deployment applied, traffic at ``percent``, the source at zero), so a move resumed
after a crash repeats the last call harmlessly. The move decides when to call what.

A move's route is read once from the two MemberClusters it joins and the workload: a workload
without ``spec.traffic`` is not steered (only replicas move); otherwise the router is the one
either cluster names, and each cluster lends the route its backend — gridshift's own at the
edge for a cluster with an ingress gateway, else the cluster's ``backendRef``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from orchestrator.api.membercluster import MemberClusterSpec
from orchestrator.api.workload import InferenceWorkloadSpec
from orchestrator.clusters.edge import backend_name
from orchestrator.clusters.hub import HubClient
from orchestrator.clusters.kube import KubeError
from orchestrator.clusters.registry import MemberRegistry
from orchestrator.clusters.watch import DeploymentWatch
from orchestrator.migration import workloads
from orchestrator.migration.routers.base import (
    WORKLOAD_HEADER,
    Backend,
    Ingress,
    NoRouter,
    Route,
    TrafficRouter,
)

PROBE_TIMEOUT_SECONDS = 5.0


class Placement:
    """One workload moving from ``source`` to ``target`` under the Migration ``uid``."""

    def __init__(
        self,
        *,
        hub: HubClient,
        members: MemberRegistry,
        routers: Mapping[str, TrafficRouter],
        http: httpx.AsyncClient | None,
        namespace: str,
        workload: str,
        uid: str,
        source: str,
        target: str,
    ) -> None:
        self._hub, self._members, self._routers, self._http = hub, members, routers, http
        self.namespace, self.workload, self.uid = namespace, workload, uid
        self.source, self.target = source, target
        self._route: tuple[TrafficRouter, Route] | None = None
        self._clusters: dict[str, MemberClusterSpec | None] = {}

    # -- the workload's status in the hub ----------------------------------------------------

    async def read_workload(self) -> dict[str, Any] | None:
        """The InferenceWorkload as the hub has it now (None when it is gone)."""
        return await asyncio.to_thread(
            self._hub.get, "inferenceworkloads", self.workload, self.namespace
        )

    async def claim(self, workload: Mapping[str, Any], migration: str) -> None:
        """Mark the workload as moving with ``migration``, only if unchanged since it was read:
        one move per workload, even with two Migrations racing."""
        meta = workload["metadata"]
        await asyncio.to_thread(
            self._hub.patch_status,
            "inferenceworkloads",
            meta["name"],
            {"activeMigration": migration},
            namespace=self.namespace,
            resource_version=meta["resourceVersion"],
        )

    async def settle(self, patch: dict[str, Any]) -> None:
        """Write where the workload runs now (and that no move holds it) to its status."""
        await asyncio.to_thread(
            self._hub.patch_status,
            "inferenceworkloads",
            self.workload,
            patch,
            namespace=self.namespace,
        )

    async def _cluster(self, name: str) -> MemberClusterSpec | None:
        if name not in self._clusters:
            found = await asyncio.to_thread(self._hub.get, "memberclusters", name)
            self._clusters[name] = (
                MemberClusterSpec.model_validate(found["spec"]) if found else None
            )
        return self._clusters[name]

    # -- the target ------------------------------------------------------------------------

    @property
    def target_watch(self) -> DeploymentWatch | None:
        """The shared Deployment watch of the target, None while gridshift does not know it."""
        if not self._members.known(self.target):
            return None
        return self._members.get(self.target).watch

    async def dry_run(self, spec: InferenceWorkloadSpec) -> None:
        """The target's namespace ensured and the Deployment dry-run there (raises KubeError)."""
        client = self._members.get(self.target).client
        try:
            await asyncio.to_thread(client.ensure_namespace, self.namespace, once=True)
            await asyncio.to_thread(client.apply, self._deployment(spec), dry_run=True)
        except KubeError as exc:
            if exc.not_found:
                client.forget_namespace(self.namespace)  # deleted since: create it again
            raise

    async def provision(self, spec: InferenceWorkloadSpec) -> None:
        """Service, Deployment and (behind an ingress gateway) route applied in the target,
        labelled with the move."""
        client = self._members.get(self.target).client
        service = workloads.service(self.namespace, self.workload, spec)
        if service is not None:
            await asyncio.to_thread(client.apply, service)
        await asyncio.to_thread(client.apply, self._deployment(spec))
        route = await self._member_route(self.target, spec)
        if route is not None:
            await asyncio.to_thread(client.routes.apply, route)

    async def remove_target(self) -> None:
        """Remove what this move made in the target (nothing when the target is unknown)."""
        if not self._members.known(self.target):
            return
        client = self._members.get(self.target).client
        found = await asyncio.to_thread(client.read_deployment, self.namespace, self.workload)
        if found is not None and found.labels.get(workloads.MIGRATION) == self.uid:
            await asyncio.to_thread(
                client.routes.delete, self.namespace, workloads.member_route_name(self.workload)
            )
            await asyncio.to_thread(client.delete, "Deployment", self.namespace, self.workload)
            await asyncio.to_thread(client.delete, "Service", self.namespace, self.workload)

    async def serving(self, spec: InferenceWorkloadSpec) -> bool:
        """Whether the target answers the workload's health request through its ingress
        gateway, the way the edge will reach it (True when it has no ingress to ask through)."""
        cluster = await self._cluster(self.target)
        ingress = cluster.traffic.ingress if cluster is not None else None
        if spec.traffic is None or ingress is None or self._http is None:
            return True
        url = f"http://{ingress.address}:{ingress.port}{spec.health_path()}"
        headers = {WORKLOAD_HEADER: f"{self.namespace}/{self.workload}"}
        try:
            answer = await self._http.get(url, headers=headers, timeout=PROBE_TIMEOUT_SECONDS)
        except httpx.HTTPError:
            return False
        return answer.status_code == 200

    def _deployment(self, spec: InferenceWorkloadSpec) -> dict[str, Any]:
        return workloads.deployment(
            self.namespace, self.workload, spec, cluster=self.target, migration_uid=self.uid
        )

    async def _member_route(
        self, cluster_name: str, spec: InferenceWorkloadSpec
    ) -> dict[str, Any] | None:
        cluster = await self._cluster(cluster_name)
        ingress = cluster.traffic.ingress if cluster is not None else None
        if ingress is None:
            return None
        ref = ingress.gateway_ref
        return workloads.member_route(
            self.namespace,
            self.workload,
            spec,
            gateway=(ref.namespace, ref.name),
            migration_uid=self.uid if cluster_name == self.target else None,
        )

    # -- traffic and the source ------------------------------------------------------------

    async def shift(self, percent: int, spec: InferenceWorkloadSpec) -> int:
        """Send ``percent`` of the traffic to the target; returns the percent now there
        (100 at once when no router steers this workload's traffic)."""
        router, route = await self._routing(spec)
        if isinstance(router, NoRouter) and percent > 0:
            percent = 100  # no traffic is steered: the steps have nothing to wait for
        await router.shift(route, source=self.source, target=self.target, percent=percent)
        return percent

    async def source_in_flight(self, spec: InferenceWorkloadSpec) -> int | None:
        """Requests in flight on the source's pods (None: not known, or not a served workload)."""
        port = _target_port(spec)
        if spec.traffic is None or port is None or not self._members.known(self.source):
            return None
        client = self._members.get(self.source).client
        try:
            return await asyncio.to_thread(
                client.in_flight,
                self.namespace,
                self.workload,
                port=port,
                metrics=spec.traffic.in_flight_metrics,
            )
        except KubeError:
            return None

    async def release(self, spec: InferenceWorkloadSpec) -> None:
        """The source scaled to zero (kept for a fast rollback) or deleted, by the spec."""
        client = self._members.get(self.source).client
        if spec.migration.release == "Delete":
            await asyncio.to_thread(
                client.routes.delete, self.namespace, workloads.member_route_name(self.workload)
            )
            await asyncio.to_thread(client.delete, "Deployment", self.namespace, self.workload)
            await asyncio.to_thread(client.delete, "Service", self.namespace, self.workload)
            return
        found = await asyncio.to_thread(client.read_deployment, self.namespace, self.workload)
        if found is not None and found.replicas > 0:
            await asyncio.to_thread(client.scale, self.namespace, self.workload, 0)

    async def _routing(self, spec: InferenceWorkloadSpec) -> tuple[TrafficRouter, Route]:
        if self._route is None:
            self._route = await find_route(
                self._hub,
                self._routers,
                namespace=self.namespace,
                workload=self.workload,
                spec=spec,
                clusters=(self.source, self.target),
            )
        return self._route


def _target_port(spec: InferenceWorkloadSpec) -> int | None:
    """The pods' port behind the workload's traffic port (their /metrics is served there)."""
    port = spec.traffic_port()
    for service_port in spec.service_ports:
        if service_port.port == port:
            return service_port.target_port
    return port


async def find_route(
    hub: HubClient,
    routers: Mapping[str, TrafficRouter],
    *,
    namespace: str,
    workload: str,
    spec: InferenceWorkloadSpec,
    clusters: Sequence[str],
) -> tuple[TrafficRouter, Route]:
    """The router and route of ``workload`` across ``clusters`` (source first)."""
    if spec.traffic is None:
        return NoRouter(), Route(namespace, workload)
    backends: dict[str, Backend] = {}
    ingress: dict[str, Ingress] = {}
    router_name = "None"
    for cluster in clusters:
        found = await asyncio.to_thread(hub.get, "memberclusters", cluster)
        if not found:
            continue
        traffic = MemberClusterSpec.model_validate(found["spec"]).traffic
        if traffic.router != "None":
            router_name = traffic.router
        if traffic.ingress is not None:
            port = traffic.ingress.port
            backends[cluster] = Backend(backend_name(workload, cluster), namespace, port)
            ingress[cluster] = Ingress(traffic.ingress.address, port)
        elif traffic.backend_ref is not None:
            ref = traffic.backend_ref
            backends[cluster] = Backend(ref.name, ref.namespace, ref.port, ref.group, ref.kind)
    router = routers.get(router_name, NoRouter())
    return router, Route(
        namespace, workload, backends, ingress=ingress, hostnames=tuple(spec.traffic.hostnames)
    )


async def member_route_for(
    hub: HubClient, *, namespace: str, workload: str, spec: InferenceWorkloadSpec, cluster: str
) -> dict[str, Any] | None:
    """The workload's route in ``cluster`` when that cluster has an ingress gateway (for the
    first placement, outside any move)."""
    found = await asyncio.to_thread(hub.get, "memberclusters", cluster)
    if not found:
        return None
    ingress = MemberClusterSpec.model_validate(found["spec"]).traffic.ingress
    if ingress is None:
        return None
    ref = ingress.gateway_ref
    return workloads.member_route(namespace, workload, spec, gateway=(ref.namespace, ref.name))

"""Where a workload runs during one move: what the move does in the clusters and at the edge.

:class:`Placement` holds no state of the move: every call is idempotent and names a target
state (the Deployment applied, traffic at ``percent``, the source at zero), so a move resumed
after a crash repeats the last call harmlessly. The move decides when to call what.

A move's route is read once from the two MemberClusters it joins: the router is the one either
names (``None`` when neither steers traffic), and every cluster with a ``backendRef`` lends it
its backend.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.api.membercluster import MemberClusterSpec
from orchestrator.api.workload import InferenceWorkloadSpec
from orchestrator.clusters.hub import HubClient
from orchestrator.clusters.kube import KubeError
from orchestrator.clusters.registry import MemberRegistry
from orchestrator.clusters.watch import DeploymentWatch
from orchestrator.migration import workloads
from orchestrator.migration.routers.base import Backend, NoRouter, Route, TrafficRouter


class Placement:
    """One workload moving from ``source`` to ``target`` under the Migration ``uid``."""

    def __init__(
        self,
        *,
        hub: HubClient,
        members: MemberRegistry,
        routers: Mapping[str, TrafficRouter],
        namespace: str,
        workload: str,
        uid: str,
        source: str,
        target: str,
    ) -> None:
        self._hub, self._members, self._routers = hub, members, routers
        self.namespace, self.workload, self.uid = namespace, workload, uid
        self.source, self.target = source, target
        self._route: tuple[TrafficRouter, Route] | None = None

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
        """Service and Deployment applied in the target, labelled with the move."""
        client = self._members.get(self.target).client
        service = workloads.service(self.namespace, self.workload, spec)
        if service is not None:
            await asyncio.to_thread(client.apply, service)
        await asyncio.to_thread(client.apply, self._deployment(spec))

    async def remove_target(self) -> None:
        """Remove what this move made in the target (nothing when the target is unknown)."""
        if not self._members.known(self.target):
            return
        client = self._members.get(self.target).client
        found = await asyncio.to_thread(client.read_deployment, self.namespace, self.workload)
        if found is not None and found.labels.get(workloads.MIGRATION) == self.uid:
            await asyncio.to_thread(client.delete, "Deployment", self.namespace, self.workload)
            await asyncio.to_thread(client.delete, "Service", self.namespace, self.workload)

    def _deployment(self, spec: InferenceWorkloadSpec) -> dict[str, Any]:
        return workloads.deployment(self.namespace, self.workload, spec, migration_uid=self.uid)

    # -- traffic and the source ------------------------------------------------------------

    async def shift(self, percent: int) -> int:
        """Send ``percent`` of the traffic to the target; returns the percent now there
        (100 at once when no router steers this workload's traffic)."""
        router, route = await self._routing()
        if isinstance(router, NoRouter) and percent > 0:
            percent = 100  # no traffic is steered: the steps have nothing to wait for
        await router.shift(route, source=self.source, target=self.target, percent=percent)
        return percent

    async def release(self, spec: InferenceWorkloadSpec) -> None:
        """The source scaled to zero (kept for a fast rollback) or deleted, by the spec."""
        client = self._members.get(self.source).client
        if spec.migration.release == "Delete":
            await asyncio.to_thread(client.delete, "Deployment", self.namespace, self.workload)
            await asyncio.to_thread(client.delete, "Service", self.namespace, self.workload)
            return
        found = await asyncio.to_thread(client.read_deployment, self.namespace, self.workload)
        if found is not None and found.replicas > 0:
            await asyncio.to_thread(client.scale, self.namespace, self.workload, 0)

    async def _routing(self) -> tuple[TrafficRouter, Route]:
        if self._route is None:
            self._route = await find_route(
                self._hub,
                self._routers,
                namespace=self.namespace,
                workload=self.workload,
                clusters=(self.source, self.target),
            )
        return self._route


async def find_route(
    hub: HubClient,
    routers: Mapping[str, TrafficRouter],
    *,
    namespace: str,
    workload: str,
    clusters: Sequence[str],
) -> tuple[TrafficRouter, Route]:
    """The router and route of ``workload`` across ``clusters`` (source first)."""
    backends: dict[str, Backend] = {}
    router_name = "None"
    for cluster in clusters:
        found = await asyncio.to_thread(hub.get, "memberclusters", cluster)
        if not found:
            continue
        traffic = MemberClusterSpec.model_validate(found["spec"]).traffic
        if traffic.router != "None":
            router_name = traffic.router
        if traffic.backend_ref is not None:
            ref = traffic.backend_ref
            backends[cluster] = Backend(ref.name, ref.namespace, ref.port, ref.group, ref.kind)
    router = routers.get(router_name, NoRouter())
    return router, Route(namespace, workload, backends)

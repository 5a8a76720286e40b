"""InferenceWorkload handlers: place a new workload at home, roll out template changes where it
runs, and keep its status (cluster, ready replicas, power) true.

A workload users reach through the edge (``spec.traffic``) is placed with its route: in its home
cluster behind the ingress gateway, and at the edge with all of its weight on home."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import kopf

from orchestrator.api import conditions as cond
from orchestrator.api.common import GROUP, VERSION
from orchestrator.api.workload import InferenceWorkloadSpec
from orchestrator.clusters.hub import HubClient
from orchestrator.clusters.registry import MemberRegistry
from orchestrator.controller.errors import handled
from orchestrator.migration import workloads
from orchestrator.migration.placement import find_route, member_route_for
from orchestrator.migration.routers.base import TrafficRouter

STATUS_SECONDS = 5.0


async def _apply(
    members: MemberRegistry,
    hub: HubClient,
    cluster: str,
    namespace: str,
    name: str,
    spec: InferenceWorkloadSpec,
) -> None:
    member = members.get(cluster)
    await asyncio.to_thread(member.client.ensure_namespace, namespace)
    service = workloads.service(namespace, name, spec)
    if service is not None:
        await asyncio.to_thread(member.client.apply, service)
    manifest = workloads.deployment(namespace, name, spec, cluster=cluster)
    await asyncio.to_thread(member.client.apply, manifest)
    route = await member_route_for(
        hub, namespace=namespace, workload=name, spec=spec, cluster=cluster
    )
    if route is not None:
        await asyncio.to_thread(member.client.routes.apply, route)


def setup(
    registry: kopf.OperatorRegistry,
    *,
    hub: HubClient,
    members: MemberRegistry,
    routers: Mapping[str, TrafficRouter],
) -> None:
    """Place, roll out and report InferenceWorkloads in the clusters of ``members``."""

    @kopf.on.resume(GROUP, VERSION, "inferenceworkloads", registry=registry)
    @kopf.on.create(GROUP, VERSION, "inferenceworkloads", registry=registry)
    @kopf.on.update(GROUP, VERSION, "inferenceworkloads", field="spec", registry=registry)
    async def workload_changed(
        namespace: str | None,
        name: str,
        spec: kopf.Spec,
        status: kopf.Status,
        patch: kopf.Patch,
        reason: str,
        body: kopf.Body,
        **_: Any,
    ) -> None:
        if namespace is None:
            raise kopf.PermanentError("an InferenceWorkload is always namespaced")
        parsed = InferenceWorkloadSpec.model_validate(spec)
        current = status.get("currentCluster")
        with handled():
            if not current:
                home = parsed.placement.home_cluster
                await _apply(members, hub, home, namespace, name, parsed)
                router, route = await find_route(
                    hub, routers, namespace=namespace, workload=name, spec=parsed, clusters=[home]
                )
                await router.place(route, cluster=home)
                patch.status["currentCluster"] = parsed.placement.home_cluster
                patch.status["placedAt"] = datetime.now(UTC).isoformat()
                patch.status["desiredReplicas"] = parsed.template.replicas
                await asyncio.to_thread(
                    hub.event,
                    dict(body),
                    reason=cond.PLACED,
                    message=f"placed in its home cluster {parsed.placement.home_cluster}",
                )
                return
            if status.get("activeMigration"):
                raise kopf.TemporaryError(
                    f"{name} is moving ({status['activeMigration']}); the template change is "
                    "rolled out when the move ends",
                    delay=10,
                )
            if reason != "resume":
                await _apply(members, hub, current, namespace, name, parsed)
            patch.status["desiredReplicas"] = parsed.template.replicas

    @kopf.on.delete(GROUP, VERSION, "inferenceworkloads", optional=True, registry=registry)
    async def workload_deleted(namespace: str | None, name: str, spec: kopf.Spec, **_: Any) -> None:
        """A deleted workload leaves nothing of gridshift's behind: not in any member cluster,
        not at the edge (objects of the same name gridshift did not create are left alone)."""
        if namespace is None:
            raise kopf.PermanentError("an InferenceWorkload is always namespaced")
        parsed = InferenceWorkloadSpec.model_validate(spec)
        with handled():
            for cluster in members.names():
                client = members.get(cluster).client
                await asyncio.to_thread(
                    client.routes.delete, namespace, workloads.member_route_name(name)
                )
                await asyncio.to_thread(client.delete, "Deployment", namespace, name)
                await asyncio.to_thread(client.delete, "Service", namespace, name)
            router, route = await find_route(
                hub, routers, namespace=namespace, workload=name, spec=parsed,
                clusters=members.names(),
            )  # fmt: skip
            await router.remove(route)

    @kopf.timer(GROUP, VERSION, "inferenceworkloads", interval=STATUS_SECONDS, registry=registry)
    async def workload_status(
        namespace: str | None,
        name: str,
        spec: kopf.Spec,
        status: kopf.Status,
        meta: kopf.Meta,
        patch: kopf.Patch,
        **_: Any,
    ) -> None:
        if namespace is None:
            raise kopf.PermanentError("an InferenceWorkload is always namespaced")
        current = status.get("currentCluster")
        if not current or not members.known(current):
            return
        parsed = InferenceWorkloadSpec.model_validate(spec)
        found = members.get(current).watch.get(namespace, name)
        ready = found.ready_replicas if found is not None else 0
        fresh = {
            "readyReplicas": ready,
            "desiredReplicas": parsed.template.replicas,
            "powerKW": round(ready * parsed.power.kw_each(), 3),
            "observedGeneration": meta.get("generation"),
        }
        changed = {k: v for k, v in fresh.items() if status.get(k) != v}
        patch.status.update(changed)

"""MemberCluster handlers: keep a client per member, probe it, keep its status true."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import kopf

from orchestrator.api import conditions as cond
from orchestrator.api.common import GROUP, VERSION, Condition
from orchestrator.api.conditions import set_condition
from orchestrator.api.membercluster import MemberClusterSpec
from orchestrator.clusters.hub import HubClient
from orchestrator.clusters.kube import KubeError
from orchestrator.clusters.registry import MemberRegistry
from orchestrator.controller.errors import handled
from orchestrator.errors import ClusterError

log = logging.getLogger(__name__)
PROBE_SECONDS = 10.0


async def register(
    hub: HubClient, members: MemberRegistry, name: str, spec: dict[str, Any]
) -> None:
    """Build (or refresh) the member's client from its kubeconfig Secret."""
    parsed = MemberClusterSpec.model_validate(spec)
    ref = parsed.kubeconfig_secret_ref
    kubeconfig = await asyncio.to_thread(hub.secret_value, ref.namespace, ref.name, ref.key)
    members.upsert(name, kubeconfig)


async def prime(hub: HubClient, members: MemberRegistry) -> None:
    """Register every MemberCluster before any migration resumes."""
    for item in await asyncio.to_thread(hub.list, "memberclusters"):
        name = item["metadata"]["name"]
        try:
            await register(hub, members, name, item["spec"])
        except ClusterError as exc:
            log.warning("cluster=%s not registered at start: %s", name, exc)


def setup(registry: kopf.OperatorRegistry, *, hub: HubClient, members: MemberRegistry) -> None:
    """Keep a client per MemberCluster in ``members`` and each one's status true."""

    @kopf.on.resume(GROUP, VERSION, "memberclusters", registry=registry)
    @kopf.on.create(GROUP, VERSION, "memberclusters", registry=registry)
    @kopf.on.update(GROUP, VERSION, "memberclusters", field="spec", registry=registry)
    async def member_changed(name: str, spec: kopf.Spec, **_: Any) -> None:
        with handled():
            await register(hub, members, name, dict(spec))

    @kopf.on.delete(GROUP, VERSION, "memberclusters", optional=True, registry=registry)
    async def member_deleted(name: str, **_: Any) -> None:
        members.remove(name)

    @kopf.timer(GROUP, VERSION, "memberclusters", interval=PROBE_SECONDS, registry=registry)
    async def member_probe(
        name: str,
        spec: kopf.Spec,
        status: kopf.Status,
        meta: kopf.Meta,
        patch: kopf.Patch,
        **_: Any,
    ) -> None:
        parsed = MemberClusterSpec.model_validate(spec)
        now = datetime.now(UTC)
        conditions = [Condition.model_validate(c) for c in status.get("conditions", [])]
        try:
            await register(hub, members, name, dict(spec))  # picks up a rotated kubeconfig
            member = members.get(name)
            probe = await asyncio.to_thread(member.client.probe, parsed.gpu_resource_name)
        except (ClusterError, KubeError) as exc:
            conditions = set_condition(
                conditions,
                kind=cond.REACHABLE,
                status="False",
                reason=cond.PROBE_FAILED,
                message=f"{exc}. Check the cluster's API server and the kubeconfig Secret "
                f"{parsed.kubeconfig_secret_ref.namespace}/{parsed.kubeconfig_secret_ref.name}",
                now=now,
            )
            patch.status["conditions"] = [c.wire() for c in conditions]
            patch.status["observedGeneration"] = meta.get("generation")
            return
        conditions = set_condition(
            conditions,
            kind=cond.REACHABLE,
            status="True",
            reason=cond.PROBED,
            message=f"API server {probe.version} answered",
            now=now,
        )
        patch.status.update(
            {
                "conditions": [c.wire() for c in conditions],
                "observedGeneration": meta.get("generation"),
                "kubernetesVersion": probe.version,
                "allocatableGPUs": probe.usable_gpus(parsed.max_gpus),
                "usedGPUs": probe.used_gpus,
                "freeGPUs": max(0, probe.free_gpus(parsed.max_gpus)),
                "readyNodes": probe.ready_nodes,
                "lastProbeTime": now.isoformat(),
            }
        )

"""What one move sees of the fleet before each step: the machine's :class:`Observed`.

The workload as the hub has it, the target MemberCluster and its zone's peak level, the GPUs
free there for this move (from the capacity book), and the target's Deployment as the shared
watch last saw it. Reading the workload and the target are the only calls; the watch is a cache.
"""

from __future__ import annotations

import asyncio
from typing import Any

from orchestrator.api.membercluster import MemberClusterSpec
from orchestrator.api.workload import InferenceWorkloadSpec
from orchestrator.clusters.hub import HubClient
from orchestrator.clusters.kube import KubeError
from orchestrator.errors import MigrationError
from orchestrator.migration import workloads
from orchestrator.migration.capacity import CapacityBook
from orchestrator.migration.machine import Observed
from orchestrator.migration.placement import Placement


class Observer:
    """The eyes of one move (``key``, its ``namespace/name``) across its ``placement``."""

    def __init__(
        self, *, hub: HubClient, capacity: CapacityBook, placement: Placement, key: str
    ) -> None:
        self._hub, self._capacity, self._placement, self._key = hub, capacity, placement, key
        self.workload: dict[str, Any] | None = None
        """The InferenceWorkload as last read (None when it does not exist)."""
        self.target: MemberClusterSpec | None = None
        """The target MemberCluster's spec as last read (None when it does not exist)."""
        self.peak_level = 0
        self.free_gpus: int | None = None
        self.target_serving = False
        """The target answered through its ingress gateway at the last look (WarmingUp)."""
        self.source_in_flight: int | None = None
        """Requests in flight on the source at the last look (Draining)."""
        self.traffic_failure: str | None = None
        """Why the last weight step did not reach the edge's data plane, if it did not."""

    @property
    def workload_spec(self) -> InferenceWorkloadSpec | None:
        if self.workload is None:
            return None
        return InferenceWorkloadSpec.model_validate(self.workload["spec"])

    def need_workload(self) -> InferenceWorkloadSpec:
        """The workload's spec; MigrationError when it disappeared during the move."""
        spec = self.workload_spec
        if spec is None:
            where = self._placement
            raise MigrationError(
                f"InferenceWorkload {where.namespace}/{where.workload} disappeared during "
                "the move; recreate it so the move can finish or roll back"
            )
        return spec

    async def refresh_workload(self) -> None:
        self.workload = await self._placement.read_workload()

    async def look_at_target(self) -> None:
        """Read the target MemberCluster, its zone's peak level and its free GPUs."""
        where = self._placement
        found = await asyncio.to_thread(self._hub.get, "memberclusters", where.target)
        self.target = MemberClusterSpec.model_validate(found["spec"]) if found else None
        if self.target is None or where.target_watch is None:
            return
        zone = await asyncio.to_thread(self._hub.get, "gridzones", self.target.zone)
        self.peak_level = int(((zone or {}).get("status") or {}).get("peakLevel", 0))
        try:
            self.free_gpus = await self._capacity.free_for(
                where.target,
                self.target,
                move=self._key,
                workload=(where.namespace, where.workload),
            )
        except KubeError:
            self.free_gpus = None

    async def look_at_serving(self) -> None:
        """Whether the target answers a request, once its Deployment is ready (WarmingUp)."""
        spec, watch = self.workload_spec, self._placement.target_watch
        found = watch.get(self._placement.namespace, self._placement.workload) if watch else None
        ready = found is not None and found.replicas > 0 and found.ready_replicas >= found.replicas
        if spec is None or not ready:
            self.target_serving = False
            return
        self.target_serving = await self._placement.serving(spec)

    async def look_at_source(self) -> None:
        """The source's requests in flight (Draining; not asked when there is no drain time to
        end early)."""
        spec = self.workload_spec
        self.source_in_flight = (
            await self._placement.source_in_flight(spec)
            if spec is not None and spec.migration.drain_seconds > 0
            else None
        )

    def observed(self, *, deleting: bool) -> Observed:
        """What the machine decides from, now."""
        where = self._placement
        spec = self.workload_spec
        status = (self.workload or {}).get("status") or {}
        watch = where.target_watch
        ready, left = 0, False
        if watch is not None:
            found = watch.get(where.namespace, where.workload)
            if found is not None and found.replicas > 0:
                ready = found.ready_replicas
            left = found is not None and found.labels.get(workloads.MIGRATION) == where.uid
            # until the watch has listed the cluster, whatever we left there is unknown: look
            left = left or not watch.synced
        replicas = spec.template.replicas if spec else 1
        return Observed(
            workload_found=self.workload is not None,
            workload_cluster=status.get("currentCluster"),
            workload_active_migration=status.get("activeMigration"),
            desired_replicas=replicas,
            drain_seconds=spec.migration.drain_seconds if spec else 0,
            traffic_steps=tuple(spec.migration.traffic_steps) if spec else (100,),
            target_known=watch is not None and self.target is not None,
            target_cordoned=bool(self.target and self.target.cordoned),
            target_peak_level=self.peak_level,
            target_reachable=watch is not None and watch.unreachable_since is None,
            target_unreachable_since=watch.unreachable_since if watch else None,
            target_free_gpus=self.free_gpus,
            gpus_needed=replicas * (spec.power.gpus_per_replica if spec else 0),
            target_ready=ready,
            target_serving=self.target_serving,
            source_in_flight=self.source_in_flight,
            traffic_failure=self.traffic_failure,
            target_objects_left=left,
            deleting=deleting,
        )

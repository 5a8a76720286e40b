"""The make-before-break protocol, step by step, against the real clusters.

:class:`Move` runs one Migration: observe, ask the pure
:func:`~orchestrator.migration.machine.decide`, apply the step, write the status. It waits on the
target cluster's shared Deployment watch, never on a poll of its own. Each step is idempotent,
so a process killed at any point is replaced by one that repeats the last step harmlessly.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from typing import Any

from orchestrator.api.membercluster import MemberClusterSpec
from orchestrator.clusters.kube import KubeError
from orchestrator.errors import ClusterError, LedgerError, MigrationError
from orchestrator.migration import status as st
from orchestrator.migration import workloads
from orchestrator.migration.engine import WAIT_SLICE, Stopping
from orchestrator.migration.machine import Action, Observed, Step, decide
from orchestrator.migration.recording import RecordedMove, log
from orchestrator.migration.routers.base import Backend, NoRouter, Route, TrafficRouter

PURE = frozenset(
    {Action.BEGIN_SHIFT, Action.BEGIN_DRAIN, Action.BEGIN_RELEASE, Action.BEGIN_ROLLBACK}
)
"""Steps that only change the phase: written together with the next step that acts."""


class Move(RecordedMove):
    """One Migration in flight, driven to its end."""

    async def run(self, stopping: Stopping) -> None:
        await self._refresh_workload()
        while True:
            reason = stopping()
            if reason == "exiting":
                return
            if self.status.phase == "Preflight" and self.target is None:
                await self._look_at_target()
            observed = self._observe(deleting=reason == "deleted")
            now = self.engine.clock()
            step = decide(self.spec, self.status, observed, now, name=self.name)
            if step.action is Action.DONE:
                if await self._record_final(stopping):
                    return
                continue
            if self.dirty and step.action not in PURE:
                await self._save()  # the hub knows the phase before any cluster is touched
            if step.action is Action.WAIT:
                await self._wait(step, now)
                continue
            if self.engine.pauses and self.dirty:
                await self._save()  # fault injection: a test kills us in the phase it sees
            if await self._injected_pause(stopping):
                continue
            try:
                await self._apply(step, observed)
            except (ClusterError, LedgerError, MigrationError) as exc:
                log.warning("migration=%s step=%s failed: %s", self.key, step.action.value, exc)
                await asyncio.sleep(1.0)
                with contextlib.suppress(ClusterError):
                    await self._refresh_workload()

    async def _injected_pause(self, stopping: Stopping) -> bool:
        """Fault injection: hold a configured phase once per process; True if it paused."""
        phase = self.status.phase
        seconds = self.engine.pauses.get(phase, 0.0)
        if seconds <= 0 or phase in self.paused:
            return False
        self.paused.add(phase)
        log.info(
            "migration=%s pausing %.1f s in phase=%s (fault injection)", self.key, seconds, phase
        )
        loop = asyncio.get_running_loop()
        until = loop.time() + seconds
        while loop.time() < until and stopping() is None:  # noqa: ASYNC110 - polled flag
            await asyncio.sleep(min(0.1, until - loop.time()))
        return True

    async def _wait(self, step: Step, now: datetime) -> None:
        slice_ = WAIT_SLICE
        if step.until is not None:
            slice_ = max(0.05, min(slice_, (step.until - now).total_seconds()))
        if self.engine.registry.known(self.spec.to_cluster):
            await self.engine.registry.get(self.spec.to_cluster).watch.changed(slice_)
        else:
            await asyncio.sleep(slice_)

    # -- observing ---------------------------------------------------------------------------

    async def _refresh_workload(self) -> None:
        self.workload = await asyncio.to_thread(
            self.engine.hub.get, "inferenceworkloads", self.spec.workload, self.namespace
        )

    def _observe(self, *, deleting: bool) -> Observed:
        spec = self.workload_spec
        status = (self.workload or {}).get("status") or {}
        to = self.spec.to_cluster
        member = self.engine.registry.get(to) if self.engine.registry.known(to) else None
        ready, left = 0, False
        if member is not None:
            found = member.watch.get(self.namespace, self.spec.workload)
            if found is not None and found.replicas > 0:
                ready = found.ready_replicas
            left = found is not None and found.labels.get(workloads.MIGRATION) == self.uid
            # until the watch has listed the cluster, whatever we left there is unknown: look
            left = left or not member.watch.synced
        replicas = spec.template.replicas if spec else 1
        return Observed(
            workload_found=self.workload is not None,
            workload_cluster=status.get("currentCluster"),
            workload_active_migration=status.get("activeMigration"),
            desired_replicas=replicas,
            drain_seconds=spec.migration.drain_seconds if spec else 0,
            traffic_steps=tuple(spec.migration.traffic_steps) if spec else (100,),
            target_known=member is not None and self.target is not None,
            target_cordoned=bool(self.target and self.target.cordoned),
            target_peak_level=self.peak_level,
            target_reachable=member is not None and member.watch.unreachable_since is None,
            target_unreachable_since=member.watch.unreachable_since if member else None,
            target_free_gpus=self.free_gpus,
            gpus_needed=replicas * (spec.power.gpus_per_replica if spec else 0),
            target_ready=ready,
            target_objects_left=left,
            deleting=deleting,
        )

    async def _look_at_target(self) -> None:
        """Read the target MemberCluster, its zone's peak level and its free GPUs."""
        hub = self.engine.hub
        found = await asyncio.to_thread(hub.get, "memberclusters", self.spec.to_cluster)
        self.target = MemberClusterSpec.model_validate(found["spec"]) if found else None
        if self.target is None or not self.engine.registry.known(self.spec.to_cluster):
            return
        zone = await asyncio.to_thread(hub.get, "gridzones", self.target.zone)
        self.peak_level = int(((zone or {}).get("status") or {}).get("peakLevel", 0))
        try:
            probe = await self.engine.probe(self.spec.to_cluster, self.target.gpu_resource_name)
        except KubeError:
            self.free_gpus = None
            return
        allocatable = probe.allocatable_gpus
        if self.target.max_gpus is not None:
            allocatable = min(allocatable, self.target.max_gpus)
        mine = probe.used_gpus_by_workload.get((self.namespace, self.spec.workload), 0)
        booked = self.engine.booked(self.spec.to_cluster, besides=self.key)
        self.free_gpus = allocatable - probe.used_gpus - booked + mine

    # -- applying ------------------------------------------------------------------------------

    async def _apply(self, step: Step, observed: Observed) -> None:
        action = step.action
        if action is Action.START:
            await self._start(observed)
        elif action is Action.PREFLIGHT:
            await self._preflight(observed)
        elif action is Action.PROVISION:
            await self._provision()
        elif action is Action.BEGIN_SHIFT:
            self.engine.unbook(self.spec.to_cluster, self.key)
            await self._enter("ShiftingTraffic", step.reason, "the target is ready")
            self._announce("TargetReady", f"the target {self.spec.to_cluster} is ready")
        elif action is Action.SHIFT:
            await self._shift(step.percent)
        elif action is Action.BEGIN_DRAIN:
            await self._enter("Draining", step.reason, "all traffic is on the target")
        elif action is Action.BEGIN_RELEASE:
            await self._enter("Releasing", step.reason, "")
        elif action is Action.RELEASE:
            await self._release()
        elif action is Action.BEGIN_ROLLBACK:
            await self._enter("RollingBack", step.reason, step.message, warning=True)
            self._announce("RollingBack", step.message or step.reason, warning=True)
        elif action is Action.ROLL_BACK:
            await self._roll_back()
        elif action is Action.CLEAN_UP:
            await self._remove_target()
        elif action is Action.FAIL:
            await self._fail(step)

    async def _start(self, observed: Observed) -> None:
        spec = self.workload_spec
        if spec is None or self.workload is None:
            return
        if observed.workload_active_migration != self.name:
            # claim the workload: one move per workload, even with two Migrations racing
            meta = self.workload["metadata"]
            await asyncio.to_thread(
                self.engine.hub.patch_status,
                "inferenceworkloads",
                meta["name"],
                {"activeMigration": self.name},
                namespace=self.namespace,
                resource_version=meta["resourceVersion"],
            )
        replicas = spec.template.replicas
        now = self.engine.clock()
        self.status = st.start(
            self.status, self.spec, now, replicas=replicas, kw=replicas * spec.power.kw_each()
        )
        self.status = st.enter(self.status, "Pending", now, reason="Accepted")
        await self._look_at_target()
        await self._enter(
            "Preflight",
            "Accepted",
            f"moving {self.spec.workload} to {self.spec.to_cluster}",
            event="MigrationStarted",
        )

    async def _preflight(self, observed: Observed) -> None:
        spec = self._need_workload()
        member = self.engine.registry.get(self.spec.to_cluster)
        manifest = workloads.deployment(
            self.namespace, self.spec.workload, spec, migration_uid=self.uid
        )
        known = (self.spec.to_cluster, self.namespace)
        try:
            if known not in self.engine.namespaces:
                await asyncio.to_thread(member.client.ensure_namespace, self.namespace)
                self.engine.namespaces.add(known)
            await asyncio.to_thread(member.client.apply, manifest, dry_run=True)
        except KubeError as exc:
            if exc.not_found:
                self.engine.namespaces.discard(known)  # deleted since: create it again
                raise
            if exc.unreachable:
                raise
            await self._fail(
                Step(
                    Action.FAIL,
                    "DryRunRejected",
                    f"{self.spec.to_cluster!r} rejected the Deployment in a "
                    f"server-side dry-run: {exc}. Fix the workload's template",
                )
            )
            return
        self.engine.book(self.spec.to_cluster, self.key, observed.gpus_needed)
        await self._enter("Provisioning", "PreflightPassed", "")

    async def _provision(self) -> None:
        spec = self._need_workload()
        member = self.engine.registry.get(self.spec.to_cluster)
        service = workloads.service(self.namespace, self.spec.workload, spec)
        if service is not None:
            await asyncio.to_thread(member.client.apply, service)
        manifest = workloads.deployment(
            self.namespace, self.spec.workload, spec, migration_uid=self.uid
        )
        await asyncio.to_thread(member.client.apply, manifest)
        await self._enter("WarmingUp", "Provisioned", "waiting for the target to be ready")
        self._announce("Provisioned", f"Deployment applied in {self.spec.to_cluster}")

    async def _route(self) -> tuple[TrafficRouter, Route]:
        if self.route is None:
            self.route = await self._find_route()
        return self.route

    async def _find_route(self) -> tuple[TrafficRouter, Route]:
        backends: dict[str, Backend] = {}
        router_name = "None"
        for cluster in (self.spec.from_cluster, self.spec.to_cluster):
            found = await asyncio.to_thread(self.engine.hub.get, "memberclusters", cluster)
            if not found:
                continue
            traffic = MemberClusterSpec.model_validate(found["spec"]).traffic
            if traffic.router != "None":
                router_name = traffic.router
            if traffic.backend_ref is not None:
                ref = traffic.backend_ref
                backends[cluster] = Backend(ref.name, ref.namespace, ref.port, ref.group, ref.kind)
        router = self.engine.routers.get(router_name, NoRouter())
        return router, Route(self.namespace, self.spec.workload, backends)

    async def _shift(self, percent: int) -> None:
        router, route = await self._route()
        if isinstance(router, NoRouter):
            percent = 100  # no traffic is steered: the steps have nothing to wait for
        await router.shift(
            route, source=self.spec.from_cluster, target=self.spec.to_cluster, percent=percent
        )
        self.status = self.status.model_copy(update={"traffic_percent": percent})
        shifted = f"all traffic on {self.spec.to_cluster}" if percent == 100 else None
        await self._save(event=("TrafficShifted", shifted) if shifted else None)

    async def _release(self) -> None:
        spec = self._need_workload()
        member = self.engine.registry.get(self.spec.from_cluster)
        if spec.migration.release == "Delete":
            await asyncio.to_thread(
                member.client.delete, "Deployment", self.namespace, self.spec.workload
            )
            await asyncio.to_thread(
                member.client.delete, "Service", self.namespace, self.spec.workload
            )
        else:
            source = await asyncio.to_thread(
                member.client.read_deployment, self.namespace, self.spec.workload
            )
            if source is not None and source.replicas > 0:
                await asyncio.to_thread(member.client.scale, self.namespace, self.spec.workload, 0)
        now = self.engine.clock()
        await self._settle_workload(
            {
                "currentCluster": self.spec.to_cluster,
                "placedAt": now.isoformat(),
                "activeMigration": None,
                "lastMigration": self.name,
                "lastMigrationTime": now.isoformat(),
            }
        )
        home = spec.placement.home_cluster == self.spec.to_cluster
        self._announce(
            "ReturnedHome" if home else "Moved",
            f"moved from {self.spec.from_cluster} to {self.spec.to_cluster} by {self.name}",
            on=self.workload,
        )
        await self._enter(
            "Completed",
            "Completed",
            f"{self.spec.workload} serves from {self.spec.to_cluster}",
            event="MigrationCompleted",
        )

    async def _roll_back(self) -> None:
        if self.status.traffic_percent > 0:
            router, route = await self._route()
            await router.shift(
                route, source=self.spec.from_cluster, target=self.spec.to_cluster, percent=0
            )
            self.status = self.status.model_copy(update={"traffic_percent": 0})
        try:
            await self._remove_target()
        except KubeError as exc:
            if not exc.unreachable:
                raise
            log.warning("migration=%s target unreachable; will remove it when it returns", self.key)
        self.engine.unbook(self.spec.to_cluster, self.key)
        await self._settle_workload({"activeMigration": None})
        await self._enter(
            "RolledBack", self._reason(), self.status.message, warning=True, event="RolledBack"
        )

    def _reason(self) -> str:
        for condition in self.status.conditions:
            if condition.type == "Progressing":
                return condition.reason
        return "RolledBack"

    async def _remove_target(self) -> None:
        if not self.engine.registry.known(self.spec.to_cluster):
            return
        member = self.engine.registry.get(self.spec.to_cluster)
        found = await asyncio.to_thread(
            member.client.read_deployment, self.namespace, self.spec.workload
        )
        if found is not None and found.labels.get(workloads.MIGRATION) == self.uid:
            await asyncio.to_thread(
                member.client.delete, "Deployment", self.namespace, self.spec.workload
            )
            await asyncio.to_thread(
                member.client.delete, "Service", self.namespace, self.spec.workload
            )

    async def _fail(self, step: Step) -> None:
        self.engine.unbook(self.spec.to_cluster, self.key)
        await self._refresh_workload()
        if ((self.workload or {}).get("status") or {}).get("activeMigration") == self.name:
            await self._settle_workload({"activeMigration": None})
        now = self.engine.clock()
        if self.status.start_time is None:
            self.status = self.status.model_copy(update={"start_time": now})
        self.status = st.enter(self.status, "Pending", now, reason=step.reason)
        await self._enter("Failed", step.reason, step.message, warning=True, event="Failed")

    async def _settle_workload(self, patch: dict[str, Any]) -> None:
        await asyncio.to_thread(
            self.engine.hub.patch_status,
            "inferenceworkloads",
            self.spec.workload,
            patch,
            namespace=self.namespace,
        )

    # -- recording ---------------------------------------------------------------------------

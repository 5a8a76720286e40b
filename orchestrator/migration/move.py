"""One Migration driven to its end: the make-before-break protocol against the real clusters.

:meth:`Move.run` is the loop behind each Migration (a kopf daemon calls it): observe, ask the
pure :func:`~orchestrator.migration.machine.decide`, apply the step in the clusters through its
:class:`~orchestrator.migration.placement.Placement`, write the status through the
:class:`~orchestrator.migration.recorder.Recorder`. GPUs are booked in the
:class:`~orchestrator.migration.capacity.CapacityBook`. It waits on the target cluster's shared
Deployment watch, never on a poll of its own. Its state is the Migration's status, written after
every step, so a new process picks up where a killed one stopped; each step is idempotent, so
repeating the last one is harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from orchestrator.api import conditions as cond
from orchestrator.api.migration import TERMINAL_PHASES, MigrationSpec, MigrationStatus, Phase
from orchestrator.clusters.hub import HubClient
from orchestrator.clusters.kube import KubeError
from orchestrator.clusters.registry import MemberRegistry
from orchestrator.errors import ClusterError, LedgerError, MigrationError
from orchestrator.ledger.records import MigrationSnapshot
from orchestrator.migration import status as st
from orchestrator.migration.capacity import CapacityBook
from orchestrator.migration.machine import Action, Observed, Step, decide
from orchestrator.migration.observer import Observer
from orchestrator.migration.placement import Placement
from orchestrator.migration.recorder import Recorder
from orchestrator.migration.routers.base import TrafficRouter
from orchestrator.migration.routers.gateway_api import TrafficNotProgrammedError

log = logging.getLogger(__name__)

WAIT_SLICE = 2.0
"""Longest single wait: how soon a stop request or a deletion is noticed."""
PURE = frozenset(
    {Action.BEGIN_SHIFT, Action.BEGIN_DRAIN, Action.BEGIN_RELEASE, Action.BEGIN_ROLLBACK}
)
"""Steps that only change the phase: written together with the next step that acts."""


class Stopping(enum.Enum):
    """Whether the move is asked to stop, and why (read before every step)."""

    NO = "No"
    DELETED = "Deleted"
    """The Migration is being deleted: roll back, then end."""
    EXITING = "Exiting"
    """The process is stopping: return after the current step; the next leader resumes."""


def utcnow() -> datetime:
    return datetime.now(UTC)


class Move:
    """One Migration in flight: its spec, its status, and the clusters it joins."""

    def __init__(
        self,
        body: dict[str, Any],
        *,
        hub: HubClient,
        members: MemberRegistry,
        capacity: CapacityBook,
        recorder: Recorder,
        routers: Mapping[str, TrafficRouter],
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], datetime] = utcnow,
        pauses: Mapping[str, float] | None = None,
    ) -> None:
        meta = body["metadata"]
        self.hub, self.capacity, self.recorder, self.clock = hub, capacity, recorder, clock
        self.pauses: Mapping[str, float] = pauses or {}
        """Fault injection for tests: seconds to wait in a phase before acting (settings)."""
        self.namespace: str = meta["namespace"]
        self.name: str = meta["name"]
        self.uid: str = meta["uid"]
        self.key = f"{self.namespace}/{self.name}"
        self.body = body
        self.spec = MigrationSpec.model_validate(body["spec"])
        self.status = MigrationStatus.model_validate(body.get("status") or {})
        self.placement = Placement(
            hub=hub,
            members=members,
            routers=routers,
            http=http,
            namespace=self.namespace,
            workload=self.spec.workload,
            uid=self.uid,
            source=self.spec.from_cluster,
            target=self.spec.to_cluster,
        )
        self.observer = Observer(hub=hub, capacity=capacity, placement=self.placement, key=self.key)
        self.paused: set[str] = set()
        self.dirty = False
        """The status changed in memory since it was last written to the hub."""

    async def run(self, stopping: Callable[[], Stopping]) -> None:
        """Drive the move until it has ended, been recorded and cleaned up (or must stop)."""
        await self.observer.refresh_workload()
        while True:
            asked = stopping()
            if asked is Stopping.EXITING:
                return
            if self.status.phase == "Preflight" and self.observer.target is None:
                await self.observer.look_at_target()
            if self.status.phase in ("WarmingUp", "ShiftingTraffic"):
                await self.observer.look_at_serving()
            elif self.status.phase == "Draining":
                await self.observer.look_at_source()
            observed = self.observer.observed(deleting=asked is Stopping.DELETED)
            now = self.clock()
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
            if self.pauses and self.dirty:
                await self._save()  # fault injection: a test kills us in the phase it sees
            if await self._injected_pause(stopping):
                continue
            try:
                await self._apply(step, observed)
            except (ClusterError, LedgerError, MigrationError) as exc:
                log.warning("migration=%s step=%s failed: %s", self.key, step.action.value, exc)
                await asyncio.sleep(1.0)
                with contextlib.suppress(ClusterError):
                    await self.observer.refresh_workload()

    async def _injected_pause(self, stopping: Callable[[], Stopping]) -> bool:
        """Fault injection: hold a configured phase once per process; True if it paused."""
        phase = self.status.phase
        seconds = self.pauses.get(phase, 0.0)
        if seconds <= 0 or phase in self.paused:
            return False
        self.paused.add(phase)
        log.info(
            "migration=%s pausing %.1f s in phase=%s (fault injection)", self.key, seconds, phase
        )
        loop = asyncio.get_running_loop()
        until = loop.time() + seconds
        while loop.time() < until and stopping() is Stopping.NO:  # noqa: ASYNC110 - polled
            await asyncio.sleep(min(0.1, until - loop.time()))
        return True

    async def _wait(self, step: Step, now: datetime) -> None:
        slice_ = WAIT_SLICE
        if step.until is not None:
            slice_ = max(0.05, min(slice_, (step.until - now).total_seconds()))
        watch = self.placement.target_watch
        if watch is not None:
            await watch.changed(slice_)
        else:
            await asyncio.sleep(slice_)

    # -- applying ------------------------------------------------------------------------------

    async def _apply(self, step: Step, observed: Observed) -> None:
        action, to = step.action, self.spec.to_cluster
        if action is Action.START:
            await self._start(observed)
        elif action is Action.PREFLIGHT:
            await self._preflight(observed)
        elif action is Action.PROVISION:
            await self._provision()
        elif action is Action.BEGIN_SHIFT:
            self.capacity.unbook(to, self.key)
            await self._enter("ShiftingTraffic", step.reason, "the target is ready")
            self.recorder.announce(self.body, cond.TARGET_READY, f"the target {to} is ready")
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
            self.recorder.announce(
                self.body, cond.ROLLING_BACK, step.message or step.reason, warning=True
            )
        elif action is Action.ROLL_BACK:
            await self._roll_back()
        elif action is Action.CLEAN_UP:
            await self.placement.remove_target()
        elif action is Action.FAIL:
            await self._fail(step)

    async def _start(self, observed: Observed) -> None:
        spec, workload = self.observer.workload_spec, self.observer.workload
        if spec is None or workload is None:
            return
        if observed.workload_active_migration != self.name:
            await self.placement.claim(workload, self.name)
        replicas = spec.template.replicas
        now = self.clock()
        self.status = st.start(
            self.status, self.spec, now, replicas=replicas, kw=replicas * spec.power.kw_each()
        )
        self.status = st.enter(self.status, "Pending", now, reason=cond.ACCEPTED)
        await self.observer.look_at_target()
        await self._enter(
            "Preflight",
            cond.ACCEPTED,
            f"moving {self.spec.workload} to {self.spec.to_cluster}",
            event=cond.MIGRATION_STARTED,
        )

    async def _preflight(self, observed: Observed) -> None:
        try:
            await self.placement.dry_run(self.observer.need_workload())
        except KubeError as exc:
            if exc.not_found or exc.unreachable:
                raise
            message = (
                f"{self.spec.to_cluster!r} rejected the Deployment in a server-side dry-run: "
                f"{exc}. Fix the workload's template"
            )
            await self._fail(Step(Action.FAIL, cond.DRY_RUN_REJECTED, message))
            return
        self.capacity.book(self.spec.to_cluster, self.key, observed.gpus_needed)
        await self._enter("Provisioning", cond.PREFLIGHT_PASSED, "")

    async def _provision(self) -> None:
        await self.placement.provision(self.observer.need_workload())
        await self._enter("WarmingUp", cond.PROVISIONED, "waiting for the target to be ready")
        self.recorder.announce(
            self.body, cond.PROVISIONED, f"Deployment applied in {self.spec.to_cluster}"
        )

    async def _shift(self, percent: int) -> None:
        try:
            percent = await self.placement.shift(percent, self.observer.need_workload())
        except TrafficNotProgrammedError as exc:
            log.warning("migration=%s traffic step to %d%% failed: %s", self.key, percent, exc)
            self.observer.traffic_failure = str(exc)
            return
        self.status = self.status.model_copy(update={"traffic_percent": percent})
        shifted = f"all traffic on {self.spec.to_cluster}" if percent == 100 else None
        await self._save(event=(cond.TRAFFIC_SHIFTED, shifted) if shifted else None)

    async def _release(self) -> None:
        spec = self.observer.need_workload()
        await self.placement.release(spec)
        now = self.clock()
        await self.placement.settle(
            {
                "currentCluster": self.spec.to_cluster,
                "placedAt": now.isoformat(),
                "activeMigration": None,
                "lastMigration": self.name,
                "lastMigrationTime": now.isoformat(),
            }
        )
        home = spec.placement.home_cluster == self.spec.to_cluster
        self.recorder.announce(
            self.observer.workload or self.body,
            cond.RETURNED_HOME if home else cond.MOVED,
            f"moved from {self.spec.from_cluster} to {self.spec.to_cluster} by {self.name}",
        )
        await self._enter(
            "Completed",
            cond.COMPLETED,
            f"{self.spec.workload} serves from {self.spec.to_cluster}",
            event=cond.MIGRATION_COMPLETED,
        )

    async def _roll_back(self) -> None:
        # the route itself, not the saved percent: a move killed between a weight step and
        # the status write that follows it would leave weight on the target otherwise
        spec = self.observer.workload_spec
        if spec is not None:
            await self.placement.shift(0, spec)
        self.status = self.status.model_copy(update={"traffic_percent": 0})
        try:
            await self.placement.remove_target()
        except KubeError as exc:
            if not exc.unreachable:
                raise
            log.warning("migration=%s target unreachable; will remove it when it returns", self.key)
        self.capacity.unbook(self.spec.to_cluster, self.key)
        await self.placement.settle({"activeMigration": None})
        await self._enter(
            "RolledBack",
            st.ended_reason(self.status),
            self.status.message,
            warning=True,
            event=cond.ROLLED_BACK,
        )

    async def _fail(self, step: Step) -> None:
        self.capacity.unbook(self.spec.to_cluster, self.key)
        await self.observer.refresh_workload()
        if ((self.observer.workload or {}).get("status") or {}).get("activeMigration") == self.name:
            await self.placement.settle({"activeMigration": None})
        now = self.clock()
        if self.status.start_time is None:
            self.status = self.status.model_copy(update={"start_time": now})
        self.status = st.enter(self.status, "Pending", now, reason=step.reason)
        await self._enter("Failed", step.reason, step.message, warning=True, event=cond.FAILED)

    # -- recording -----------------------------------------------------------------------------

    async def _enter(
        self,
        phase: Phase,
        reason: str,
        message: str,
        *,
        warning: bool = False,
        event: str | None = None,
    ) -> None:
        before, now = self.status, self.clock()
        self.status = st.enter(self.status, phase, now, reason=reason, message=message)
        log.info("migration=%s entered phase=%s reason=%s", self.key, phase, reason)
        self.recorder.measure(self.body, self.spec, before, self.status, reason=reason, now=now)
        if phase in TERMINAL_PHASES:
            # ledger first, then one status write: a crash in between repeats the same outcome
            await self._try_final_record()
        if event is not None or phase in TERMINAL_PHASES:
            await self._save(event=(event, message or phase) if event else None, warning=warning)
        else:
            # written before the next call to a cluster or wait (see run); a crash before
            # that repeats only transitions that touched nothing
            self.dirty = True
        if phase not in TERMINAL_PHASES:
            # the move does not wait for the ledger: the final write carries every phase anyway
            self.recorder.record_phase(self._snapshot())

    async def _save(self, *, event: tuple[str, str] | None = None, warning: bool = False) -> None:
        self.dirty = False
        await self.recorder.save(self.body, self.status, event=event, warning=warning)

    def _snapshot(self) -> MigrationSnapshot:
        return st.snapshot(
            uid=self.uid,
            namespace=self.namespace,
            name=self.name,
            spec=self.spec,
            status=self.status,
            now=self.clock(),
        )

    async def _try_final_record(self) -> bool:
        """One attempt at the final ledger row; on success the status says so (not yet saved)."""
        if self.status.ledger_recorded:
            return True
        if not await self.recorder.record_final(self._snapshot()):
            return False
        self.status = st.recorded(self.status, self.clock())
        return True

    async def _record_final(self, stopping: Callable[[], Stopping]) -> bool:
        """Write the final row, retrying while PostgreSQL is away; True once recorded."""
        delay = 1.0
        while stopping() is not Stopping.EXITING:
            if self.status.ledger_recorded:
                return True
            if await self._try_final_record():
                await self._save()
                return True
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
        return False

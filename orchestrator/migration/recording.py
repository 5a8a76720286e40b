"""A Migration's state in memory, and how it is written: status to the hub, rows to the ledger.

The status is written after every step that touched a cluster (and before every wait), so a new
process resumes from it; the ledger gets a best-effort write at each phase, off the move's
critical path, and a final write that a finalizer waits for.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from orchestrator import metrics
from orchestrator.api.membercluster import MemberClusterSpec
from orchestrator.api.migration import TERMINAL_PHASES, MigrationSpec, MigrationStatus, Phase
from orchestrator.api.workload import InferenceWorkloadSpec
from orchestrator.errors import LedgerError, MigrationError
from orchestrator.migration import status as st
from orchestrator.migration.routers.base import Route, TrafficRouter

if TYPE_CHECKING:
    from orchestrator.migration.engine import Engine, Stopping

log = logging.getLogger("orchestrator.migration.engine")


class RecordedMove:
    """One Migration in flight: its spec, its status, and where they are written."""

    def __init__(self, engine: Engine, body: dict[str, Any]) -> None:
        meta = body["metadata"]
        self.engine = engine
        self.namespace: str = meta["namespace"]
        self.name: str = meta["name"]
        self.uid: str = meta["uid"]
        self.body = body
        self.spec = MigrationSpec.model_validate(body["spec"])
        self.status = MigrationStatus.model_validate(body.get("status") or {})
        self.workload: dict[str, Any] | None = None
        self.target: MemberClusterSpec | None = None
        self.peak_level = 0
        self.free_gpus: int | None = None
        self.paused: set[str] = set()
        self.route: tuple[TrafficRouter, Route] | None = None
        self.background: set[asyncio.Task[bool]] = set()
        self.announcing: set[asyncio.Task[None]] = set()
        self.dirty = False
        """The status changed in memory since it was last written to the hub."""

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def workload_spec(self) -> InferenceWorkloadSpec | None:
        if self.workload is None:
            return None
        return InferenceWorkloadSpec.model_validate(self.workload["spec"])

    def _need_workload(self) -> InferenceWorkloadSpec:
        spec = self.workload_spec
        if spec is None:
            raise MigrationError(
                f"InferenceWorkload {self.namespace}/{self.spec.workload} disappeared during "
                "the move; recreate it so the move can finish or roll back"
            )
        return spec

    # -- recording ---------------------------------------------------------------------------

    async def _enter(
        self,
        phase: Phase,
        reason: str,
        message: str,
        *,
        warning: bool = False,
        event: str | None = None,
    ) -> None:
        before, now = self.status, self.engine.clock()
        self.status = st.enter(self.status, phase, now, reason=reason, message=message)
        log.info("migration=%s entered phase=%s reason=%s", self.key, phase, reason)
        self._measure(before, reason, now)
        if phase in TERMINAL_PHASES:
            # ledger first, then one status write: a crash in between repeats the same outcome
            await self._try_final_record()
        if event is not None or phase in TERMINAL_PHASES:
            await self._save(event=(event, message or phase) if event else None, warning=warning)
        else:
            # written before the next call to a cluster or wait (see Move.run); a crash before
            # that repeats only transitions that touched nothing
            self.dirty = True
        if phase not in TERMINAL_PHASES:
            # the move does not wait for the ledger: the final write carries every phase anyway
            task = asyncio.create_task(self._record(best_effort=True))
            self.background.add(task)
            task.add_done_callback(self.background.discard)

    def _measure(self, before: MigrationStatus, reason: str, now: datetime) -> None:
        """Metrics of the phase just left and, when the move ended, of the move (once)."""
        entered = st.spans(before)
        left = entered[-1] if entered else None
        if left is not None and left.phase != self.status.phase:
            metrics.phase_ended(left.phase, (now - left.started_at).total_seconds())
        if self.status.phase not in TERMINAL_PHASES or before.phase in TERMINAL_PHASES:
            return
        missed = reason == "DeadlineExceeded" or (
            self.status.phase == "Completed" and self.status.deadline_met is False
        )
        metrics.migration_ended(
            outcome=self.status.phase,
            trigger=self.spec.reason.trigger,
            duration_seconds=self.status.duration_seconds,
            deadline_missed=missed,
        )
        if missed:
            self._announce(
                "DeadlineMissed",
                f"the move ended {self.status.phase} after {self.status.duration_seconds} s; "
                f"its deadline was {self.spec.deadline_seconds} s",
                warning=True,
            )

    def _announce(
        self, reason: str, message: str, *, warning: bool = False, on: dict[str, Any] | None = None
    ) -> None:
        """Post an Event on the Migration (or ``on``) in the background: moves never wait."""
        task = asyncio.create_task(
            asyncio.to_thread(
                self.engine.hub.event, on or self.body, reason=reason, message=message,
                warning=warning,
            )
        )  # fmt: skip
        self.announcing.add(task)
        task.add_done_callback(self.announcing.discard)

    async def _save(self, *, event: tuple[str, str] | None = None, warning: bool = False) -> None:
        self.dirty = False
        await asyncio.to_thread(
            self.engine.hub.patch_status,
            "migrations",
            self.name,
            self.status.model_dump(by_alias=True, mode="json"),
            namespace=self.namespace,
        )
        if event is not None:
            await asyncio.to_thread(
                self.engine.hub.event, self.body, reason=event[0], message=event[1], warning=warning
            )

    async def _record(self, *, best_effort: bool) -> bool:
        loop = asyncio.get_running_loop()
        if best_effort and loop.time() < self.engine.ledger_quiet_until:
            return False  # PostgreSQL failed moments ago: the final write will catch up
        snap = st.snapshot(
            uid=self.uid,
            namespace=self.namespace,
            name=self.name,
            spec=self.spec,
            status=self.status,
            now=self.engine.clock(),
        )
        try:
            await loop.run_in_executor(self.engine.ledger_pool, self.engine.ledger.record, snap)
        except (LedgerError, ValueError) as exc:
            self.engine.ledger_quiet_until = loop.time() + 5.0
            if best_effort:
                log.warning("migration=%s ledger write deferred: %s", self.key, exc)
                return False
            raise
        return True

    async def _try_final_record(self) -> bool:
        """One attempt at the final ledger row; on success the status says so (not yet saved)."""
        if self.status.ledger_recorded:
            return True
        if self.background:  # let earlier partial writes land first, whatever their outcome
            await asyncio.gather(*self.background, return_exceptions=True)
        try:
            await self._record(best_effort=False)
        except (LedgerError, ValueError) as exc:
            log.warning("migration=%s ledger unavailable: %s", self.key, exc)
            return False
        conditions = st.set_condition(
            list(self.status.conditions),
            kind="LedgerRecorded",
            status="True",
            reason="Recorded",
            message="the ledger holds this move",
            now=self.engine.clock(),
        )
        self.status = self.status.model_copy(
            update={"ledger_recorded": True, "conditions": conditions}
        )
        return True

    async def _record_final(self, stopping: Stopping) -> bool:
        """Write the final row, retrying while PostgreSQL is away; True once recorded."""
        delay = 1.0
        while stopping() != "exiting":
            if self.status.ledger_recorded:
                return True
            if await self._try_final_record():
                await self._save()
                return True
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
        return False

"""The recorder: where moves are written — status to the hub, Kubernetes Events, ledger rows.

A move's status is written to the hub after every step that touched a cluster (and before every
wait), so a new process resumes from it. The ledger gets a best-effort write at each phase, in
the background and off the move's critical path, and a final write that the Migration's
finalizer waits for; after a failed write, best-effort writes pause for a few seconds (the final
write catches up). Events are posted in the background: a move never waits for one. One
recorder per process; its ledger writes run on threads of their own, so a slow or absent
PostgreSQL never starves the calls to the clusters.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from orchestrator import metrics
from orchestrator.api import conditions as cond
from orchestrator.api.migration import TERMINAL_PHASES, MigrationSpec, MigrationStatus
from orchestrator.clusters.hub import HubClient
from orchestrator.errors import LedgerError
from orchestrator.ledger.handle import Ledger
from orchestrator.ledger.records import MigrationSnapshot
from orchestrator.migration import status as st

log = logging.getLogger(__name__)

LEDGER_QUIET_SECONDS = 5.0
"""After a failed ledger write, best-effort writes are skipped for this long."""


class Recorder:
    """Writes moves to the hub (status, Events) and to the ledger, and measures them."""

    def __init__(self, *, hub: HubClient, ledger: Ledger, ledger_threads: int = 4) -> None:
        self._hub = hub
        self._ledger = ledger
        self._pool = ThreadPoolExecutor(max_workers=ledger_threads, thread_name_prefix="ledger")
        self._quiet_until = 0.0
        self._partial: dict[str, set[asyncio.Task[bool]]] = {}
        self._announcing: set[asyncio.Task[None]] = set()

    # -- the hub -----------------------------------------------------------------------------

    async def save(
        self,
        body: Mapping[str, Any],
        status: MigrationStatus,
        *,
        event: tuple[str, str] | None = None,
        warning: bool = False,
    ) -> None:
        """Write the Migration's status, then post ``event`` (reason, message) on it."""
        meta = body["metadata"]
        await asyncio.to_thread(
            self._hub.patch_status,
            "migrations",
            meta["name"],
            status.model_dump(by_alias=True, mode="json"),
            namespace=meta["namespace"],
        )
        if event is not None:
            await asyncio.to_thread(
                self._hub.event, dict(body), reason=event[0], message=event[1], warning=warning
            )

    def announce(
        self, obj: Mapping[str, Any], reason: str, message: str, *, warning: bool = False
    ) -> None:
        """Post an Event on ``obj`` in the background: moves never wait for one."""
        task = asyncio.create_task(
            asyncio.to_thread(
                self._hub.event, dict(obj), reason=reason, message=message, warning=warning
            )
        )
        self._announcing.add(task)
        task.add_done_callback(self._announcing.discard)

    # -- metrics -----------------------------------------------------------------------------

    def measure(
        self,
        body: Mapping[str, Any],
        spec: MigrationSpec,
        before: MigrationStatus,
        after: MigrationStatus,
        *,
        reason: str,
        now: datetime,
    ) -> None:
        """Metrics of the phase just left and, when the move ended, of the move (once)."""
        entered = st.spans(before)
        left = entered[-1] if entered else None
        if left is not None and left.phase != after.phase:
            metrics.phase_ended(left.phase, (now - left.started_at).total_seconds())
        if after.phase not in TERMINAL_PHASES or before.phase in TERMINAL_PHASES:
            return
        missed = reason == cond.DEADLINE_EXCEEDED or (
            after.phase == "Completed" and after.deadline_met is False
        )
        metrics.migration_ended(
            outcome=after.phase,
            trigger=spec.reason.trigger,
            duration_seconds=after.duration_seconds,
            deadline_missed=missed,
        )
        if missed:
            self.announce(
                body,
                cond.DEADLINE_MISSED,
                f"the move ended {after.phase} after {after.duration_seconds} s; "
                f"its deadline was {spec.deadline_seconds} s",
                warning=True,
            )

    # -- the ledger --------------------------------------------------------------------------

    def record_phase(self, snapshot: MigrationSnapshot) -> None:
        """Write the move so far in the background, unless PostgreSQL failed moments ago."""
        key = f"{snapshot.namespace}/{snapshot.name}"
        task = asyncio.create_task(self._write(snapshot, best_effort=True))
        tasks = self._partial.setdefault(key, set())
        tasks.add(task)

        def done(finished: asyncio.Task[bool]) -> None:
            tasks.discard(finished)
            if not tasks and self._partial.get(key) is tasks:
                del self._partial[key]

        task.add_done_callback(done)

    async def record_final(self, snapshot: MigrationSnapshot) -> bool:
        """One attempt at the move's final row, after its earlier writes; True once written."""
        key = f"{snapshot.namespace}/{snapshot.name}"
        if earlier := self._partial.get(key):  # let them land first, whatever their outcome
            await asyncio.gather(*earlier, return_exceptions=True)
        try:
            await self._write(snapshot, best_effort=False)
        except (LedgerError, ValueError) as exc:
            log.warning("migration=%s ledger unavailable: %s", key, exc)
            return False
        return True

    async def _write(self, snapshot: MigrationSnapshot, *, best_effort: bool) -> bool:
        loop = asyncio.get_running_loop()
        if best_effort and loop.time() < self._quiet_until:
            return False  # PostgreSQL failed moments ago: the final write will catch up
        try:
            await loop.run_in_executor(self._pool, self._ledger.record, snapshot)
        except (LedgerError, ValueError) as exc:
            self._quiet_until = loop.time() + LEDGER_QUIET_SECONDS
            if best_effort:
                key = f"{snapshot.namespace}/{snapshot.name}"
                log.warning("migration=%s ledger write deferred: %s", key, exc)
                return False
            raise
        return True

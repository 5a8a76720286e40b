"""The migration engine: runs one Migration's state machine against the real clusters.

:meth:`Engine.run` is the loop behind each Migration (a kopf daemon calls it): observe, ask
:func:`~orchestrator.migration.machine.decide`, apply the step, write the status to the hub,
write the ledger. It waits on the target cluster's shared Deployment watch, never on a poll of
its own. Its state is the Migration's status, written after every step, so a new process picks
up where a killed one stopped; each step is idempotent, so repeating the last one is harmless.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from orchestrator.clusters.hub import HubClient
from orchestrator.clusters.member import Probe
from orchestrator.clusters.registry import MemberRegistry
from orchestrator.ledger.handle import Ledger
from orchestrator.migration.routers.base import TrafficRouter

log = logging.getLogger(__name__)
PROBE_TTL = 2.0
"""Seconds a member-cluster probe is shared by moves into that cluster."""
WAIT_SLICE = 2.0
"""Longest single wait: how soon a stop request or a deletion is noticed."""

Stopping = Callable[[], str | None]
"""Returns None to go on, "deleted" when the Migration is being deleted, "exiting" to stop."""


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Engine:
    """What every migration needs: the hub, the members, the ledger, the routers, a clock."""

    hub: HubClient
    registry: MemberRegistry
    ledger: Ledger
    routers: Mapping[str, TrafficRouter] = field(default_factory=dict)
    clock: Callable[[], datetime] = utcnow
    bookings: dict[str, dict[str, int]] = field(default_factory=dict)
    """GPUs promised to migrations not yet provisioned, by target cluster and migration."""
    pauses: Mapping[str, float] = field(default_factory=dict)
    """Fault injection for tests: seconds to wait in a phase before acting (settings)."""
    probes: dict[str, tuple[float, Probe]] = field(default_factory=dict)
    namespaces: set[tuple[str, str]] = field(default_factory=set)
    """(cluster, namespace) pairs known to exist: ensured once per process."""
    ledger_pool: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=4, thread_name_prefix="ledger")
    )
    """The ledger's own threads, so a slow or absent PostgreSQL never starves cluster calls."""
    ledger_quiet_until: float = 0.0
    """After a failed write, best-effort ledger writes are skipped until then (monotonic)."""

    def booked(self, cluster: str, *, besides: str) -> int:
        return sum(g for key, g in self.bookings.get(cluster, {}).items() if key != besides)

    def book(self, cluster: str, key: str, gpus: int) -> None:
        self.bookings.setdefault(cluster, {})[key] = gpus

    def unbook(self, cluster: str, key: str) -> None:
        self.bookings.get(cluster, {}).pop(key, None)
        self.probes.pop(cluster, None)  # its pods now count in a fresh probe, not in bookings

    async def probe(self, cluster: str, gpu_resource: str) -> Probe:
        """A probe of ``cluster`` shared by the moves that look at it within PROBE_TTL.

        Safe with bookings: a move books its GPUs before its pods exist and unbooks (dropping
        the cached probe) only once they run, so a cached probe never hides a booked pod.
        """
        now = asyncio.get_running_loop().time()
        cached = self.probes.get(cluster)
        if cached is not None and now - cached[0] < PROBE_TTL:
            return cached[1]
        member = self.registry.get(cluster)
        found = await asyncio.to_thread(member.client.probe, gpu_resource)
        self.probes[cluster] = (now, found)
        return found

    async def run(self, body: dict[str, Any], *, stopping: Stopping) -> None:
        """Drive the Migration in ``body`` until it has ended, been recorded and cleaned up."""
        from orchestrator.migration.move import Move  # the move needs the engine's type

        await Move(self, body).run(stopping)

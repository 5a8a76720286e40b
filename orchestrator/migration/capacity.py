"""The capacity book: GPUs promised to moves, and the member-cluster probes moves share.

A move books the GPUs it needs in its target when its preflight passes, before its pods exist,
and gives the booking back once the target is ready (its pods then count in a fresh probe) or
the move ended. Free GPUs for a move are what a probe finds free, minus what other moves have
booked there, plus what the move's own workload already holds there (a resumed move). One book
per process, used from the event loop only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from orchestrator.api.membercluster import MemberClusterSpec
from orchestrator.clusters.member import Probe
from orchestrator.clusters.registry import MemberRegistry

PROBE_TTL = 2.0
"""Seconds a member-cluster probe is shared by moves into that cluster."""


def _loop_time() -> float:
    return asyncio.get_running_loop().time()


class CapacityBook:
    """Bookings by target cluster and move, and the probes of the clusters moves look at."""

    def __init__(
        self,
        members: MemberRegistry,
        *,
        probe_ttl: float = PROBE_TTL,
        clock: Callable[[], float] = _loop_time,
    ) -> None:
        self._members = members
        self._probe_ttl = probe_ttl
        self._clock = clock
        self._bookings: dict[str, dict[str, int]] = {}
        self._probes: dict[str, tuple[float, Probe]] = {}

    def booked(self, cluster: str, *, besides: str) -> int:
        """GPUs booked in ``cluster`` by moves other than ``besides``."""
        return sum(g for key, g in self._bookings.get(cluster, {}).items() if key != besides)

    def book(self, cluster: str, move: str, gpus: int) -> None:
        """Promise ``gpus`` in ``cluster`` to ``move`` (a repeat replaces its booking)."""
        self._bookings.setdefault(cluster, {})[move] = gpus

    def unbook(self, cluster: str, move: str) -> None:
        """Give back ``move``'s booking; the cluster's next probe counts its pods instead."""
        self._bookings.get(cluster, {}).pop(move, None)
        self._probes.pop(cluster, None)

    async def probe(self, cluster: str, gpu_resource: str) -> Probe:
        """A probe of ``cluster`` shared by the moves that look at it within the TTL.

        Safe with bookings: a move books its GPUs before its pods exist and unbooks (dropping
        the cached probe) only once they run, so a cached probe never hides a booked pod.
        Raises ``KubeError`` when the cluster does not answer, ``ClusterError`` when unknown.
        """
        now = self._clock()
        cached = self._probes.get(cluster)
        if cached is not None and now - cached[0] < self._probe_ttl:
            return cached[1]
        member = self._members.get(cluster)
        found = await asyncio.to_thread(member.client.probe, gpu_resource)
        self._probes[cluster] = (now, found)
        return found

    async def free_for(
        self, cluster: str, target: MemberClusterSpec, *, move: str, workload: tuple[str, str]
    ) -> int:
        """GPUs free in ``cluster`` for ``move`` of ``workload`` (namespace, name)."""
        probe = await self.probe(cluster, target.gpu_resource_name)
        mine = probe.used_gpus_by_workload.get(workload, 0)
        return probe.free_gpus(target.max_gpus) - self.booked(cluster, besides=move) + mine

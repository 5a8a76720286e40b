"""The one small interface every traffic router implements."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Backend:
    """The backend that stands for one member cluster at the edge (a Service, usually)."""

    name: str
    namespace: str | None = None
    port: int | None = None
    group: str = ""
    kind: str = "Service"


@dataclass(frozen=True)
class Route:
    """Where one workload's traffic is split: its route, and each cluster's backend."""

    namespace: str
    """Namespace of the route in the edge cluster (the workload's namespace)."""
    name: str
    """Name of the route (the workload's name)."""
    backends: dict[str, Backend] = field(default_factory=dict)
    """Backend of every member cluster the workload may run in, by cluster name."""


class TrafficRouter(Protocol):
    """Moves a workload's traffic between member clusters.

    Every method is idempotent: calling it twice with the same arguments leaves the same state,
    so a migration resumed after a crash may repeat the step it was in.
    """

    name: str

    async def target_percent(self, route: Route, *, source: str, target: str) -> int | None:
        """Percent of traffic the target gets now; None when the route does not exist yet."""
        ...

    async def shift(self, route: Route, *, source: str, target: str, percent: int) -> None:
        """Send ``percent`` of traffic to ``target`` and the rest to ``source``.

        Returns once the edge's API server has accepted the change (raises otherwise).
        """
        ...


class NoRouter:
    """Clients resolve each cluster themselves: only replicas move, no traffic is steered."""

    name = "none"

    async def target_percent(self, route: Route, *, source: str, target: str) -> int | None:
        return None

    async def shift(self, route: Route, *, source: str, target: str, percent: int) -> None:
        return None

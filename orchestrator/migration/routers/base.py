"""The one small interface every traffic router implements, and the route it works on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

WORKLOAD_HEADER = "X-Gridshift-Workload"
"""Set by the edge route on every request it forwards; a member cluster's route for the
workload matches on it (value ``<namespace>/<name>``), whatever host name the client used."""


@dataclass(frozen=True)
class Backend:
    """The backend that stands for one member cluster at the edge (a Service, usually)."""

    name: str
    namespace: str | None = None
    port: int | None = None
    group: str = ""
    kind: str = "Service"


@dataclass(frozen=True)
class Ingress:
    """A member cluster's ingress gateway: where the edge reaches it."""

    address: str
    port: int


@dataclass(frozen=True)
class Route:
    """Where one workload's traffic is split: its route, and each cluster's backend."""

    namespace: str
    """Namespace of the route in the edge cluster (the workload's namespace)."""
    name: str
    """Name of the route (the workload's name)."""
    backends: dict[str, Backend] = field(default_factory=dict)
    """Backend of every member cluster the workload may run in, by cluster name."""
    ingress: dict[str, Ingress] = field(default_factory=dict)
    """Clusters reached through their ingress gateway: their backends are gridshift's own."""
    hostnames: tuple[str, ...] = ()
    """Host names the edge route answers for (empty: all of the Gateway listener's)."""

    @property
    def workload_key(self) -> str:
        """The value of :data:`WORKLOAD_HEADER` for this workload."""
        return f"{self.namespace}/{self.name}"


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

        Returns once the data plane routes by the new weights (raises otherwise).
        """
        ...

    async def place(self, route: Route, *, cluster: str) -> None:
        """Send all of the workload's traffic to ``cluster`` (where it is first placed)."""
        ...

    async def remove(self, route: Route) -> None:
        """Remove the workload's route and backends (the workload is gone)."""
        ...


class NoRouter:
    """Clients resolve each cluster themselves: only replicas move, no traffic is steered."""

    name = "none"

    async def target_percent(self, route: Route, *, source: str, target: str) -> int | None:
        return None

    async def shift(self, route: Route, *, source: str, target: str, percent: int) -> None:
        return None

    async def place(self, route: Route, *, cluster: str) -> None:
        return None

    async def remove(self, route: Route) -> None:
        return None

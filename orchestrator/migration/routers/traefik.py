"""What Traefik's data plane routes by now: the live weights of a workload's edge route.

Traefik, the Gateway API implementation of the local fleet's edge, writes a route's status while
it builds a configuration, before its data plane takes it (and with its default 2 s throttle a
configuration can wait, or be skipped for a newer one). Its API (``/api/http/services``, served
when Traefik runs with ``api.insecure``; give gridshift its address with
``GRIDSHIFT_EDGE_DATAPLANE_URL``) shows the configuration its routers use now: for each route
rule a weighted service, named ``httproute-<ns>-<route>-gw-<gateway ns>-<gateway>-ep-...-wrr``,
whose children are the backend Services (``<ns>-<service>-<port name>-<port>``) with their
weights. gridshift counts a weight step as taken when those weights are the ones it applied.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import httpx

from orchestrator.migration.routers.base import Route

TIMEOUT = 5.0


def _child_cluster(child: str, route: Route) -> str | None:
    """The cluster whose backend is the weighted child ``child`` (longest name wins)."""
    best: tuple[int, str] | None = None
    for cluster, backend in route.backends.items():
        prefix = f"{backend.namespace or route.namespace}-{backend.name}-"
        if not child.startswith(prefix):
            continue
        if backend.port is not None and not child.split("@", 1)[0].endswith(f"-{backend.port}"):
            continue
        if best is None or len(prefix) > best[0]:
            best = (len(prefix), cluster)
    return best[1] if best else None


def live_weights(
    services: Sequence[Mapping[str, object]], route: Route, *, gateway: tuple[str, str]
) -> dict[str, int] | None:
    """The weights by cluster of ``route``'s weighted service in Traefik's ``/api/http/services``
    answer (``gateway`` is the parent Gateway's namespace and name); None when the data plane
    has no such service (yet)."""
    gateway_ns, gateway_name = gateway
    prefix = f"httproute-{route.namespace}-{route.name}-gw-{gateway_ns}-{gateway_name}-ep-"
    for service in services:
        name = str(service.get("name") or "")
        weighted = service.get("weighted")
        if not name.startswith(prefix) or not isinstance(weighted, Mapping):
            continue
        weights = dict.fromkeys(route.backends, 0)
        children = weighted.get("services")
        for child in children if isinstance(children, list) else []:
            if not isinstance(child, Mapping):
                continue
            cluster = _child_cluster(str(child.get("name") or ""), route)
            weight = child.get("weight", 1)
            if cluster is not None and isinstance(weight, int):
                weights[cluster] += weight
        return weights
    return None


class TraefikDataPlane:
    """Traefik's API at ``url`` (e.g. ``http://127.0.0.1:9000``), asked through ``http``."""

    def __init__(self, http: httpx.AsyncClient, url: str) -> None:
        self.http = http
        self.url = url.rstrip("/")

    async def problem(
        self, route: Route, wanted: Mapping[str, int], *, gateway: tuple[str, str]
    ) -> str | None:
        """Why the data plane does not route ``route`` by ``wanted`` yet (None: it does)."""
        try:
            answer = await self.http.get(f"{self.url}/api/http/services", timeout=TIMEOUT)
            answer.raise_for_status()
            services = answer.json()
        except (httpx.HTTPError, ValueError) as exc:
            return f"the data plane's API at {self.url} did not answer ({exc!r})"
        if not isinstance(services, list):
            return f"the data plane's API at {self.url} answered no list of services"
        live = live_weights(services, route, gateway=gateway)
        if live is None:
            return "the data plane has not loaded the route yet"
        want = {cluster: wanted.get(cluster, 0) for cluster in route.backends}
        if live != want:
            return f"the data plane routes by {_show(live)}, not yet {_show(want)}"
        return None


def _show(weights: Mapping[str, int]) -> str:
    return "{" + ", ".join(f"{c}={w}" for c, w in sorted(weights.items())) + "}"

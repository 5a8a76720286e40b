"""The ``gateway-api`` traffic router: weights on an HTTPRoute in the edge cluster.

The route has one rule whose ``backendRefs`` name one backend per member cluster, and a filter
that sets :data:`~orchestrator.migration.routers.base.WORKLOAD_HEADER` on every request, so a
member cluster's ingress gateway knows the workload whatever host name the client used. A
cluster with an ingress gateway is reached through a backend gridshift owns at the edge (see
``orchestrator.clusters.edge``); a cluster with a ``backendRef`` through that backend.

A shift to ``percent`` gives the target that weight, the source the rest and every other
cluster 0; the weights always sum to 100, so a weight is a percent. A step counts as done only
when the data plane routes by it, not when the API server stored it:

1. the route is applied (server-side apply) and read back: the stored weights must be the ones
   asked for (an admission webhook or another writer could change them);
2. the Gateway implementation reports the route's generation Accepted with its references
   resolved, for gridshift's parent Gateway (``status.parents[].conditions``, with
   ``observedGeneration``) — which most implementations write while building their
   configuration, before the data plane takes it;
3. when the edge's data plane can be asked (:class:`~orchestrator.migration.routers.traefik.
   TraefikDataPlane`), it shows the new weights in its live configuration.

A step that is not done within ``step_timeout_seconds`` raises :class:`TrafficNotProgrammedError`
(the move then rolls back). There is no watch on another controller's data plane: the router
polls it, every ``poll_seconds``, and only while a step waits.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from orchestrator.api.common import MANAGED_LABEL, WORKLOAD_LABEL
from orchestrator.clusters.edge import EdgeBackends
from orchestrator.clusters.httproute import HTTPRoutes
from orchestrator.errors import ClusterError, MigrationError
from orchestrator.migration.routers.base import WORKLOAD_HEADER, Route
from orchestrator.migration.routers.traefik import TraefikDataPlane
from orchestrator.migration.routers.weights import (
    backend_keys,
    backend_ref,
    check_clusters,
    json_list,
    json_mapping,
    split_weights,
    stored_split,
)

log = logging.getLogger(__name__)

GATEWAY_GROUP = "gateway.networking.k8s.io"
ROUTE_LABELS = {"app.kubernetes.io/managed-by": "gridshift", MANAGED_LABEL: "true"}


class ShiftNotAcceptedError(ClusterError):
    """The edge's API server did not keep the weights a shift applied."""


class TrafficNotProgrammedError(MigrationError):
    """The edge's data plane did not take a weight step in time."""


@dataclass(frozen=True)
class ParentRef:
    """The Gateway a route attaches to; namespace None means the route's own namespace."""

    name: str
    namespace: str | None = None
    section_name: str | None = None

    def to_manifest(self) -> dict[str, object]:
        ref: dict[str, object] = {"group": GATEWAY_GROUP, "kind": "Gateway", "name": self.name}
        if self.namespace is not None:
            ref["namespace"] = self.namespace
        if self.section_name is not None:
            ref["sectionName"] = self.section_name
        return ref


DEFAULT_GATEWAY = ParentRef(name="edge")
"""The Gateway routes attach to unless configured otherwise: ``edge`` in the route's namespace."""


def route_manifest(
    route: Route, weights: Mapping[str, int], *, parent: ParentRef
) -> dict[str, object]:
    """The HTTPRoute gridshift applies: its labels, parent, host names, and the one rule it
    owns (the workload header set, a backendRef per cluster with its weight)."""
    spec: dict[str, object] = {
        "parentRefs": [parent.to_manifest()],
        "rules": [
            {
                "filters": [
                    {
                        "type": "RequestHeaderModifier",
                        "requestHeaderModifier": {
                            "set": [{"name": WORKLOAD_HEADER, "value": route.workload_key}]
                        },
                    }
                ],
                "backendRefs": [
                    backend_ref(route.backends[cluster], weight)
                    for cluster, weight in sorted(weights.items())
                ],
            }
        ],
    }
    if route.hostnames:
        spec["hostnames"] = list(route.hostnames)
    return {
        "apiVersion": f"{GATEWAY_GROUP}/v1",
        "kind": "HTTPRoute",
        "metadata": {
            "name": route.name,
            "namespace": route.namespace,
            "labels": {**ROUTE_LABELS, WORKLOAD_LABEL: route.name},
        },
        "spec": spec,
    }


def route_status_problem(
    obj: Mapping[str, object], *, parent: ParentRef, generation: int
) -> str | None:
    """Why the stored route ``obj`` is not yet programmed for ``parent`` at ``generation``
    (None when its status says it is: Accepted and ResolvedRefs True, observedGeneration at
    least ``generation``)."""
    namespace = str(json_mapping(obj.get("metadata")).get("namespace") or "")
    want_ns = parent.namespace or namespace
    for item in json_list(json_mapping(obj.get("status")).get("parents")):
        entry = json_mapping(item)
        ref = json_mapping(entry.get("parentRef"))
        if ref.get("name") != parent.name or (ref.get("namespace") or namespace) != want_ns:
            continue
        found = {
            str(c.get("type")): c
            for c in (json_mapping(x) for x in json_list(entry.get("conditions")))
        }
        for kind in ("Accepted", "ResolvedRefs"):
            condition = found.get(kind)
            if condition is None:
                return f"the gateway has not reported {kind} for generation {generation}"
            seen = condition.get("observedGeneration")
            if not isinstance(seen, int) or seen < generation:
                return f"the gateway has reported generation {seen}, not yet {generation}"
            if condition.get("status") != "True":
                return (
                    f"the gateway reports {kind}=False ({condition.get('reason')}: "
                    f"{condition.get('message') or 'no message'})"
                )
        return None
    return f"no gateway has reported on the route for Gateway {want_ns}/{parent.name} yet"


class GatewayAPIRouter:
    """Shifts traffic by weights on an HTTPRoute in the edge cluster; see the module text."""

    name = "gateway-api"

    def __init__(
        self,
        routes: HTTPRoutes,
        backends: EdgeBackends,
        *,
        parent: ParentRef = DEFAULT_GATEWAY,
        dataplane: TraefikDataPlane | None = None,
        step_timeout_seconds: float = 20.0,
        poll_seconds: float = 0.2,
    ) -> None:
        self.routes = routes
        self.backends = backends
        self.parent = parent
        self.dataplane = dataplane
        self.step_timeout_seconds = step_timeout_seconds
        self.poll_seconds = poll_seconds

    async def target_percent(self, route: Route, *, source: str, target: str) -> int | None:
        """Percent of traffic the target gets now; None when the route does not exist yet."""
        return await asyncio.to_thread(self.read_percent, route, source=source, target=target)

    def read_percent(self, route: Route, *, source: str, target: str) -> int | None:
        """The synchronous :meth:`target_percent`."""
        check_clusters(route.backends, source=source, target=target)
        stored = self.routes.read(route.namespace, route.name)
        if stored is None:
            return None
        return stored_split(route, stored).percent(target)

    async def shift(self, route: Route, *, source: str, target: str, percent: int) -> None:
        """Send ``percent`` to ``target``, the rest to ``source``; return once the data plane
        routes by it (TrafficNotProgrammedError when it does not in time)."""
        wanted = split_weights(route.backends, source=source, target=target, percent=percent)
        await self._program(route, wanted)
        log.info(
            "traffic shifted route=%s/%s edge=%s source=%s target=%s percent=%d",
            route.namespace, route.name, self.routes.cluster, source, target, percent,
        )  # fmt: skip

    async def place(self, route: Route, *, cluster: str) -> None:
        """All of the workload's traffic to ``cluster`` (nothing to do, and a warning, when the
        cluster has no backend at the edge: a move from there names the missing backend)."""
        if cluster not in route.backends:
            log.warning(
                "route=%s/%s not placed: cluster %s has neither an ingress nor a backendRef",
                route.namespace, route.name, cluster,
            )  # fmt: skip
            return
        wanted = {c: (100 if c == cluster else 0) for c in route.backends}
        await self._program(route, wanted)

    async def remove(self, route: Route) -> None:
        """The route and gridshift's backends of the workload at the edge, deleted."""
        await asyncio.to_thread(self.routes.delete, route.namespace, route.name)
        for cluster in await asyncio.to_thread(self.backends.clusters, route.namespace, route.name):
            await asyncio.to_thread(self.backends.delete, route.namespace, route.name, cluster)

    async def _program(self, route: Route, wanted: Mapping[str, int]) -> None:
        generation = await asyncio.to_thread(self.apply_weights, route, wanted)
        await self._confirm(route, wanted, generation)

    def apply_weights(self, route: Route, wanted: Mapping[str, int]) -> int:
        """Backends in place, the route applied and read back; the generation stored."""
        backend_keys(route)  # refuse a misconfigured route before writing anything
        for cluster, ingress in sorted(route.ingress.items()):
            self.backends.apply(
                route.namespace, route.name, cluster, address=ingress.address, port=ingress.port
            )
        applied = self.routes.apply(route_manifest(route, wanted, parent=self.parent))
        where = f"HTTPRoute {route.namespace}/{route.name} in cluster {self.routes.cluster!r}"
        obj = self.routes.read(route.namespace, route.name)
        if obj is None:
            raise ShiftNotAcceptedError(f"{where} was applied but is gone when read back")
        stored = stored_split(route, obj)
        if stored.weights != dict(wanted) or stored.unclaimed:
            version = stored_split(route, applied).resource_version
            raise ShiftNotAcceptedError(
                f"{where} holds {_show(stored.weights, stored.unclaimed)} at resourceVersion "
                f"{stored.resource_version} after gridshift applied {_show(wanted)} "
                f"(resourceVersion {version}): something else (an admission webhook, another "
                "writer) changed them; find that writer, then retry the step"
            )
        for cluster in self.backends.clusters(route.namespace, route.name):
            if cluster not in route.backends:  # a cluster the workload no longer joins
                self.backends.delete(route.namespace, route.name, cluster)
        generation = json_mapping(obj.get("metadata")).get("generation")
        return generation if isinstance(generation, int) else 0

    async def _confirm(self, route: Route, wanted: Mapping[str, int], generation: int) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.step_timeout_seconds
        while True:
            obj = await asyncio.to_thread(self.routes.read, route.namespace, route.name)
            problem = (
                "the route is gone"
                if obj is None
                else route_status_problem(obj, parent=self.parent, generation=generation)
            )
            if problem is None and self.dataplane is not None:
                problem = await self.dataplane.problem(
                    route,
                    wanted,
                    gateway=(self.parent.namespace or route.namespace, self.parent.name),
                )
            if problem is None:
                return
            if loop.time() >= deadline:
                raise TrafficNotProgrammedError(
                    f"the edge did not take the weights {_show(wanted)} of HTTPRoute "
                    f"{route.namespace}/{route.name} within {self.step_timeout_seconds:.0f} s: "
                    f"{problem}. Check the Gateway implementation's log and that it serves "
                    f"Gateway {self.parent.namespace or route.namespace}/{self.parent.name}"
                )
            await asyncio.sleep(self.poll_seconds)


def _show(weights: Mapping[str, int], unclaimed: int = 0) -> str:
    shown = [f"{cluster}={weight}" for cluster, weight in sorted(weights.items())]
    if unclaimed:
        shown.append(f"unclaimed={unclaimed}")
    return "weights {" + ", ".join(shown) + "}"

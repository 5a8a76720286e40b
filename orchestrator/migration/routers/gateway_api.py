"""The ``gateway-api`` traffic router: weights on an HTTPRoute in the edge cluster.

The route has one rule whose ``backendRefs`` name one backend per member cluster (a Service at
the edge that reaches that cluster). A shift to ``percent`` gives the target that weight, the
source the rest and every other cluster 0; the weights always sum to 100, so a weight is a
percent. Each shift is a server-side apply followed by a read of the route back from the API
server: the step counts as done only when the stored weights are the ones asked for.

"Accepted" means accepted by the edge's API server. How fast the gateway's data plane follows
depends on the Gateway implementation (Envoy Gateway, Istio, Cilium: sub-second to seconds).

This module may not import the Kubernetes client (not even through ``orchestrator.clusters``):
the edge's routes come in as an :class:`EdgeRoutes`, which
``orchestrator.clusters.httproute.HTTPRoutes`` implements, and everything else here is pure.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from orchestrator.errors import ClusterError, ConfigError
from orchestrator.migration.routers.base import Backend, Route

log = logging.getLogger(__name__)

GATEWAY_GROUP = "gateway.networking.k8s.io"
DEFAULT_WEIGHT = 1
"""The weight the Gateway API gives a backendRef that names none."""
ROUTE_LABELS = {"app.kubernetes.io/managed-by": "gridshift"}


class UnknownClusterError(ConfigError):
    """A shift names a cluster the route has no backend for, or the route's backends are wrong."""


class ShiftNotAcceptedError(ClusterError):
    """The edge's API server did not keep the weights a shift applied."""


class EdgeRoutes(Protocol):
    """The HTTPRoutes of the edge cluster, as JSON objects (see orchestrator.clusters.httproute)."""

    @property
    def cluster(self) -> str:
        """Name of the edge cluster, for messages."""
        ...

    def read(self, namespace: str, name: str) -> Mapping[str, object] | None:
        """The stored route, or None when there is none."""
        ...

    def apply(
        self,
        namespace: str,
        name: str,
        *,
        parent_refs: Sequence[Mapping[str, object]],
        backend_refs: Sequence[Mapping[str, object]],
        labels: Mapping[str, str] | None = None,
    ) -> Mapping[str, object]:
        """Server-side apply parentRefs and ``spec.rules[0].backendRefs``; the stored route."""
        ...


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

BackendKey = tuple[str, str, str, str, int | None]
"""A backendRef's identity: group, kind, namespace, name, port (namespace filled in)."""


@dataclass(frozen=True)
class StoredSplit:
    """The weights a stored route gives the route's clusters."""

    resource_version: str
    weights: dict[str, int]
    """Weight of each cluster of the route (0 when the route has no backendRef for it)."""
    unclaimed: int
    """Total weight of backendRefs that belong to no cluster of the route."""

    def percent(self, cluster: str) -> int:
        """Percent of traffic ``cluster`` gets (0 for every cluster when all weights are 0)."""
        return percent_of(self.weights, cluster, unclaimed=self.unclaimed)


def check_clusters(clusters: Iterable[str], *, source: str, target: str) -> list[str]:
    """The route's clusters, sorted; refuses a source or target that is not one of them."""
    names = sorted(set(clusters))
    if source == target:
        raise UnknownClusterError(f"source and target are the same cluster {source!r}")
    for role, cluster in (("source", source), ("target", target)):
        if cluster not in names:
            known = ", ".join(names) or "none"
            raise UnknownClusterError(
                f"the {role} cluster {cluster!r} has no backend in the route (clusters with a "
                f"backend: {known}); add its backend to the workload's traffic configuration"
            )
    return names


def split_weights(
    clusters: Iterable[str], *, source: str, target: str, percent: int
) -> dict[str, int]:
    """Weights of every cluster: ``percent`` to the target, the rest to the source, others 0."""
    if not 0 <= percent <= 100:
        raise ValueError(f"percent must be between 0 and 100, not {percent}")
    names = check_clusters(clusters, source=source, target=target)
    weights = dict.fromkeys(names, 0)
    weights[target] = percent
    weights[source] = 100 - percent
    return weights


def percent_of(weights: Mapping[str, int], cluster: str, *, unclaimed: int = 0) -> int:
    """Percent of traffic ``cluster`` gets from relative ``weights`` (plus weight no cluster has).

    A route whose weights are all 0 sends nothing anywhere: every cluster gets 0.
    """
    total = sum(weights.values()) + unclaimed
    if total <= 0:
        return 0
    return round(100 * weights.get(cluster, 0) / total)


def backend_keys(route: Route) -> dict[str, BackendKey]:
    """Each cluster's backendRef identity; refuses backends the Gateway API cannot use."""
    keys: dict[str, BackendKey] = {}
    owner: dict[BackendKey, str] = {}
    for cluster, backend in sorted(route.backends.items()):
        if backend.port is None and backend.group == "" and backend.kind == "Service":
            raise UnknownClusterError(
                f"the backend of cluster {cluster!r} in route {route.namespace}/{route.name} "
                f"is Service {backend.name!r} without a port; the Gateway API requires one"
            )
        key = _key(backend, route.namespace)
        if key in owner:
            raise UnknownClusterError(
                f"clusters {owner[key]!r} and {cluster!r} share one backend in route "
                f"{route.namespace}/{route.name}; each cluster needs a backend of its own"
            )
        owner[key] = cluster
        keys[cluster] = key
    return keys


def _key(backend: Backend, route_namespace: str) -> BackendKey:
    namespace = backend.namespace or route_namespace
    return (backend.group, backend.kind, namespace, backend.name, backend.port)


def backend_ref(backend: Backend, weight: int) -> dict[str, object]:
    """The backendRef of one cluster's backend with its weight."""
    ref: dict[str, object] = {"group": backend.group, "kind": backend.kind, "name": backend.name}
    if backend.namespace is not None:
        ref["namespace"] = backend.namespace
    if backend.port is not None:
        ref["port"] = backend.port
    ref["weight"] = weight
    return ref


def stored_split(route: Route, obj: Mapping[str, object]) -> StoredSplit:
    """The weights of ``spec.rules[0].backendRefs`` of a stored route, by cluster of ``route``."""
    cluster_of = {key: cluster for cluster, key in backend_keys(route).items()}
    metadata = _mapping(obj.get("metadata"))
    rules = _list(_mapping(obj.get("spec")).get("rules"))
    refs = _list(_mapping(rules[0]).get("backendRefs")) if rules else []
    weights = dict.fromkeys(route.backends, 0)
    unclaimed = 0
    for item in refs:
        ref = _mapping(item)
        namespace, port = ref.get("namespace"), ref.get("port")
        key: BackendKey = (
            str(ref.get("group") or ""),
            str(ref.get("kind") or "Service"),
            str(namespace) if namespace else route.namespace,
            str(ref.get("name") or ""),
            port if isinstance(port, int) else None,
        )
        weight = ref.get("weight", DEFAULT_WEIGHT)
        weight = weight if isinstance(weight, int) else DEFAULT_WEIGHT
        cluster = cluster_of.get(key)
        if cluster is None:
            unclaimed += weight
        else:
            weights[cluster] += weight
    return StoredSplit(str(metadata.get("resourceVersion") or ""), weights, unclaimed)


def _mapping(obj: object) -> Mapping[str, object]:
    return obj if isinstance(obj, Mapping) else {}


def _list(obj: object) -> list[object]:
    return obj if isinstance(obj, list) else []


class GatewayAPIRouter:
    """Shifts traffic by weights on an HTTPRoute in the edge cluster.

    ``routes`` reaches the edge cluster's API (the caller builds it from the edge's API client);
    ``parent_refs`` attach every route to the configured Gateway.
    """

    name = "gateway-api"

    def __init__(
        self, routes: EdgeRoutes, *, parent_refs: Sequence[ParentRef] = (DEFAULT_GATEWAY,)
    ) -> None:
        self.routes = routes
        self.parent_refs = tuple(parent_refs)

    async def target_percent(self, route: Route, *, source: str, target: str) -> int | None:
        """Percent of traffic the target gets now; None when the route does not exist yet."""
        return await asyncio.to_thread(self.read_percent, route, source=source, target=target)

    async def shift(self, route: Route, *, source: str, target: str, percent: int) -> None:
        """Send ``percent`` to ``target``, the rest to ``source``; return once it is stored."""
        await asyncio.to_thread(
            self.apply_shift, route, source=source, target=target, percent=percent
        )

    def read_percent(self, route: Route, *, source: str, target: str) -> int | None:
        """The synchronous :meth:`target_percent`."""
        check_clusters(route.backends, source=source, target=target)
        stored = self.routes.read(route.namespace, route.name)
        if stored is None:
            return None
        return stored_split(route, stored).percent(target)

    def apply_shift(self, route: Route, *, source: str, target: str, percent: int) -> StoredSplit:
        """The synchronous :meth:`shift`; returns the split as read back from the API server."""
        wanted = split_weights(route.backends, source=source, target=target, percent=percent)
        backend_keys(route)  # refuse a misconfigured route before writing anything
        applied = self.routes.apply(
            route.namespace,
            route.name,
            parent_refs=[parent.to_manifest() for parent in self.parent_refs],
            backend_refs=[
                backend_ref(route.backends[cluster], wanted[cluster]) for cluster in wanted
            ],
            labels=ROUTE_LABELS,
        )
        where = f"HTTPRoute {route.namespace}/{route.name} in cluster {self.routes.cluster!r}"
        obj = self.routes.read(route.namespace, route.name)
        if obj is None:
            raise ShiftNotAcceptedError(f"{where} was applied but is gone when read back")
        stored = stored_split(route, obj)
        if stored.weights != wanted or stored.unclaimed:
            version = stored_split(route, applied).resource_version
            raise ShiftNotAcceptedError(
                f"{where} holds {_show(stored.weights, stored.unclaimed)} at resourceVersion "
                f"{stored.resource_version} after gridshift applied {_show(wanted)} "
                f"(resourceVersion {version}): something else (an admission webhook, another "
                "writer) changed them; find that writer, then retry the step"
            )
        log.info(
            "traffic shifted route=%s/%s edge=%s source=%s target=%s percent=%d "
            "resource_version=%s",
            route.namespace,
            route.name,
            self.routes.cluster,
            source,
            target,
            percent,
            stored.resource_version,
        )
        return stored


def _show(weights: Mapping[str, int], unclaimed: int = 0) -> str:
    shown = [f"{cluster}={weight}" for cluster, weight in sorted(weights.items())]
    if unclaimed:
        shown.append(f"unclaimed={unclaimed}")
    return "weights {" + ", ".join(shown) + "}"

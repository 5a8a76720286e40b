"""The arithmetic of weights on an HTTPRoute, without I/O: splits, backendRefs, reading back.

A split gives the target ``percent``, the source the rest and every other cluster 0, so the
weights always sum to 100 and a weight is a percent. A stored route is read back into weights by
cluster, every backendRef that belongs to no cluster of the route counted apart (unclaimed).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from orchestrator.errors import ConfigError
from orchestrator.migration.routers.base import Backend, Route

DEFAULT_WEIGHT = 1
"""The weight the Gateway API gives a backendRef that names none."""


class UnknownClusterError(ConfigError):
    """A shift names a cluster the route has no backend for, or the route's backends are wrong."""


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
    metadata = json_mapping(obj.get("metadata"))
    rules = json_list(json_mapping(obj.get("spec")).get("rules"))
    refs = json_list(json_mapping(rules[0]).get("backendRefs")) if rules else []
    weights = dict.fromkeys(route.backends, 0)
    unclaimed = 0
    for item in refs:
        ref = json_mapping(item)
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


def json_mapping(obj: object) -> Mapping[str, object]:
    return obj if isinstance(obj, Mapping) else {}


def json_list(obj: object) -> list[object]:
    return obj if isinstance(obj, list) else []

"""The gateway-api router's pure parts: weight splits, backendRefs, reading a stored route."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.errors import ClusterError, ConfigError
from orchestrator.migration.routers.base import Backend, Route, TrafficRouter
from orchestrator.migration.routers.gateway_api import (
    GatewayAPIRouter,
    ParentRef,
    ShiftNotAcceptedError,
)
from orchestrator.migration.routers.weights import (
    UnknownClusterError,
    backend_keys,
    backend_ref,
    percent_of,
    split_weights,
    stored_split,
)

CLUSTERS = ("shanghai", "hubei", "ningxia")
cluster_names = st.lists(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=12),
    min_size=2,
    max_size=8,
    unique=True,
)


def route(*clusters: str, namespace: str = "ai") -> Route:
    return Route(namespace, "llama", {c: Backend(f"llama-{c}", port=8000) for c in clusters})


def stored(route_: Route, weights: Mapping[str, int], *, rv: str = "7") -> dict[str, object]:
    """A route as the API server would return it after gridshift applied ``weights``."""
    refs = [backend_ref(route_.backends[c], w) for c, w in weights.items()]
    return {
        "metadata": {"name": route_.name, "namespace": route_.namespace, "resourceVersion": rv},
        "spec": {"rules": [{"backendRefs": refs}]},
    }


@given(clusters=cluster_names, data=st.data())
def test_split_gives_target_percent_source_the_rest_others_zero(
    clusters: list[str], data: st.DataObject
) -> None:
    """A split sums to 100: the target gets the percent, the source the rest, the others 0."""
    source, target = data.draw(st.permutations(clusters))[:2]
    percent = data.draw(st.integers(0, 100))
    weights = split_weights(clusters, source=source, target=target, percent=percent)
    assert set(weights) == set(clusters)
    assert sum(weights.values()) == 100
    assert weights[target] == percent
    assert weights[source] == 100 - percent
    assert all(w == 0 for c, w in weights.items() if c not in (source, target))


@given(percent=st.integers(0, 100), data=st.data())
def test_stored_split_reads_back_what_a_shift_writes(percent: int, data: st.DataObject) -> None:
    """Weights written as backendRefs read back as the same weights and target percent."""
    source, target = data.draw(st.permutations(CLUSTERS))[:2]
    r = route(*CLUSTERS)
    weights = split_weights(r.backends, source=source, target=target, percent=percent)
    split = stored_split(r, stored(r, weights))
    assert split.weights == weights
    assert split.unclaimed == 0
    assert split.percent(target) == percent
    assert split.percent(source) == 100 - percent


def test_rollback_to_zero_puts_everything_on_the_source() -> None:
    """Shifting to 0 percent sends all traffic back to the source."""
    weights = split_weights(CLUSTERS, source="shanghai", target="hubei", percent=0)
    assert weights == {"shanghai": 100, "hubei": 0, "ningxia": 0}


def test_split_is_the_same_whatever_the_order_of_clusters() -> None:
    """The split depends on the set of clusters, not on their order (idempotent applies)."""
    one = split_weights(CLUSTERS, source="hubei", target="ningxia", percent=50)
    two = split_weights(reversed(CLUSTERS), source="hubei", target="ningxia", percent=50)
    assert list(one.items()) == list(two.items())


@pytest.mark.parametrize("role", ["source", "target"])
def test_unknown_cluster_is_refused_with_the_known_ones_named(role: str) -> None:
    """A source or target without a backend in the route is refused, naming the known clusters."""
    names = {"source": "hubei", "target": "ningxia", role: "gansu"}
    with pytest.raises(UnknownClusterError, match=rf"{role} cluster 'gansu'.*hubei, ningxia"):
        split_weights(
            ("hubei", "ningxia"), source=names["source"], target=names["target"], percent=10
        )


def test_unknown_cluster_is_a_configuration_error() -> None:
    """An unknown cluster is a configuration error (retrying cannot fix it), not a cluster error."""
    assert issubclass(UnknownClusterError, ConfigError)
    assert not issubclass(UnknownClusterError, ClusterError)
    assert issubclass(ShiftNotAcceptedError, ClusterError)


def test_source_equal_to_target_is_refused() -> None:
    """Shifting from a cluster to itself is refused."""
    with pytest.raises(UnknownClusterError, match="same cluster"):
        split_weights(CLUSTERS, source="hubei", target="hubei", percent=50)


@pytest.mark.parametrize("percent", [-1, 101])
def test_percent_outside_0_to_100_is_refused(percent: int) -> None:
    """A percent below 0 or above 100 is refused."""
    with pytest.raises(ValueError, match="between 0 and 100"):
        split_weights(CLUSTERS, source="hubei", target="ningxia", percent=percent)


def test_percent_of_all_zero_weights_is_zero() -> None:
    """A route whose weights are all 0 gives every cluster 0 percent."""
    assert percent_of({"a": 0, "b": 0}, "a") == 0


def test_percent_counts_weight_no_cluster_claims() -> None:
    """Backends that belong to no cluster still take their share of the traffic."""
    assert percent_of({"a": 1, "b": 1}, "a", unclaimed=2) == 25


def test_missing_weight_counts_as_one_and_unknown_backends_as_unclaimed() -> None:
    """A backendRef without weight counts 1 (the Gateway API default); foreign ones are unclaimed."""
    r = route("hubei", "ningxia")
    obj = {
        "metadata": {"resourceVersion": "9"},
        "spec": {
            "rules": [
                {
                    "backendRefs": [
                        {"name": "llama-hubei", "port": 8000},
                        {"name": "legacy", "port": 80, "weight": 3},
                    ]
                }
            ]
        },
    }
    split = stored_split(r, obj)
    assert split.weights == {"hubei": 1, "ningxia": 0}
    assert split.unclaimed == 3
    assert split.resource_version == "9"


def test_backend_in_other_namespace_or_port_is_another_backend() -> None:
    """A backendRef matches a cluster only with the same namespace (default: route's) and port."""
    r = route("hubei", "ningxia")
    refs = [
        {"name": "llama-hubei", "namespace": "ai", "port": 8000, "weight": 5},
        {"name": "llama-ningxia", "namespace": "other", "port": 8000, "weight": 7},
        {"name": "llama-ningxia", "port": 9000, "weight": 11},
    ]
    split = stored_split(r, {"spec": {"rules": [{"backendRefs": refs}]}})
    assert split.weights == {"hubei": 5, "ningxia": 0}
    assert split.unclaimed == 18


def test_route_without_rules_gives_nobody_traffic() -> None:
    """A stored route without rules gives every cluster weight 0."""
    split = stored_split(route(*CLUSTERS), {"metadata": {}, "spec": {}})
    assert split.weights == dict.fromkeys(CLUSTERS, 0)
    assert split.percent("hubei") == 0


def test_service_backend_without_port_is_refused() -> None:
    """A Service backend without a port is refused before anything is written."""
    r = Route("ai", "llama", {"hubei": Backend("llama-hubei"), "ningxia": Backend("x", port=1)})
    with pytest.raises(UnknownClusterError, match=r"'hubei'.*without a port"):
        backend_keys(r)


def test_two_clusters_sharing_a_backend_are_refused() -> None:
    """Two clusters with the same backend could not be told apart and are refused."""
    same = Backend("llama", port=8000)
    r = Route("ai", "llama", {"hubei": same, "ningxia": Backend("llama", "ai", 8000)})
    with pytest.raises(UnknownClusterError, match="share one backend"):
        backend_keys(r)


def test_backend_ref_names_group_kind_port_and_weight() -> None:
    """A backendRef carries group, kind, name, port, weight, and a namespace only when given."""
    assert backend_ref(Backend("llama-hubei", port=8000), 40) == {
        "group": "",
        "kind": "Service",
        "name": "llama-hubei",
        "port": 8000,
        "weight": 40,
    }
    assert backend_ref(Backend("b", namespace="edge", port=1), 0)["namespace"] == "edge"


def test_parent_ref_defaults_to_a_gateway_in_the_route_namespace() -> None:
    """A parentRef names a Gateway; namespace and section only when configured."""
    assert ParentRef("edge").to_manifest() == {
        "group": "gateway.networking.k8s.io",
        "kind": "Gateway",
        "name": "edge",
    }
    ref = ParentRef("public", namespace="gateways", section_name="https").to_manifest()
    assert (ref["namespace"], ref["sectionName"]) == ("gateways", "https")


class RewritingEdge:
    """An edge whose API server stores other weights than applied (as a mutating webhook might).

    Duck-typed like the HTTPRoutes client: the router only reads and applies through it."""

    cluster = "edge"

    def __init__(self, rewrite: dict[str, int]) -> None:
        self.rewrite = rewrite
        self.route: dict[str, object] | None = None

    def read(self, namespace: str, name: str) -> Mapping[str, object] | None:
        return self.route

    def apply(self, manifest: Mapping[str, Any]) -> Mapping[str, object]:
        refs = [
            {**ref, "weight": self.rewrite.get(str(ref["name"]), 0)}
            for ref in manifest["spec"]["rules"][0]["backendRefs"]
        ]
        self.route = {
            "metadata": {"resourceVersion": "2", "generation": 2},
            "spec": {"rules": [{"backendRefs": refs}]},
        }
        return self.route


class NoBackends:
    """Edge backends of a route whose clusters all have backendRefs of their own."""

    def clusters(self, namespace: str, workload: str) -> list[str]:
        return []


def test_shift_whose_weights_the_server_changed_is_not_accepted() -> None:
    """A shift whose read-back weights differ from the applied ones raises ShiftNotAcceptedError."""
    router = GatewayAPIRouter(RewritingEdge({"llama-hubei": 100}), NoBackends())  # type: ignore[arg-type]
    with pytest.raises(ShiftNotAcceptedError, match=r"holds weights \{hubei=100, ningxia=0\}"):
        asyncio.run(
            router.shift(route("hubei", "ningxia"), source="hubei", target="ningxia", percent=50)
        )


def test_router_implements_the_traffic_router_protocol() -> None:
    """GatewayAPIRouter is a TrafficRouter named gateway-api."""
    router: TrafficRouter = GatewayAPIRouter(RewritingEdge({}), NoBackends())  # type: ignore[arg-type]
    assert router.name == "gateway-api"

"""The gateway-api router against the fleet's real edge: a kube-apiserver with the Gateway API
CRDs (shanghai) and the Traefik data plane that serves its Gateway ``gridshift-edge/edge``."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from kubernetes import client, watch

from orchestrator.clusters.edge import EdgeBackends, backend_name
from orchestrator.clusters.httproute import GROUP, PLURAL, VERSION, HTTPRoutes
from orchestrator.clusters.kube import KubeError, client_from_file, client_from_kubeconfig
from orchestrator.clusters.owned import ForeignObjectError
from orchestrator.devenv import Fleet
from orchestrator.devenv.dataplane import EDGE_GATEWAY, EDGE_NAMESPACE
from orchestrator.devenv.gateway import install_gateway_api
from orchestrator.errors import ClusterError
from orchestrator.migration.routers.base import Backend, Ingress, Route
from orchestrator.migration.routers.gateway_api import (
    GatewayAPIRouter,
    ParentRef,
    TrafficNotProgrammedError,
)
from orchestrator.migration.routers.traefik import TraefikDataPlane, live_weights
from orchestrator.migration.routers.weights import UnknownClusterError, stored_split
from tests.kube import namespace

pytestmark = pytest.mark.timeout(300)

EDGE = "shanghai"
CLUSTERS = ("shanghai", "hubei", "ningxia")
STEPS = (10, 50, 100)
WATCH_SECONDS = 60
PARENT = ParentRef(EDGE_GATEWAY, namespace=EDGE_NAMESPACE)


@pytest.fixture(scope="module")
def edge(fleet: Fleet) -> HTTPRoutes:
    """The edge cluster's HTTPRoutes (the fleet installed the Gateway API there)."""
    return HTTPRoutes(client_from_file(fleet.kubeconfig(EDGE)), cluster=EDGE)


@pytest.fixture(scope="module")
def backends(fleet: Fleet) -> EdgeBackends:
    return EdgeBackends(client_from_file(fleet.kubeconfig(EDGE)), cluster=EDGE)


@pytest.fixture
def route(fleet: Fleet) -> Iterator[Route]:
    """A workload's route in a fresh namespace, each cluster reached through its ingress
    gateway (its WAN proxy at the province's address), as gridshift registers them."""
    with namespace(fleet.kubeconfig(EDGE), prefix="gw") as ns:
        ingress = {c: Ingress(fleet.province(c).host_ip, 8000) for c in CLUSTERS}
        yield Route(
            ns,
            "llama",
            {c: Backend(backend_name("llama", c), ns, 8000) for c in CLUSTERS},
            ingress=ingress,
        )


@pytest.fixture
def objects(fleet: Fleet) -> client.CustomObjectsApi:
    """The edge's custom objects, for the test's own reads and watches."""
    return client.CustomObjectsApi(client_from_file(fleet.kubeconfig(EDGE)))


def router_for(
    fleet: Fleet, edge: HTTPRoutes, backends: EdgeBackends, **kw: Any
) -> GatewayAPIRouter:
    """A router that confirms each step with the edge Traefik's live configuration (its API)."""
    # no kept-alive connections: each shift() runs in an event loop of its own, and a pooled
    # connection belongs to the loop that opened it
    http = httpx.AsyncClient(limits=httpx.Limits(max_keepalive_connections=0))
    return GatewayAPIRouter(
        edge,
        backends,
        parent=kw.pop("parent", PARENT),
        dataplane=TraefikDataPlane(http, fleet.dataplane.edge_api),
        **kw,
    )


def shift(router: GatewayAPIRouter, route: Route, *percents: int, source: str, target: str) -> None:
    """Run the router's async shift once per percent, in order, in one event loop."""

    async def steps() -> None:
        for percent in percents:
            await router.shift(route, source=source, target=target, percent=percent)

    asyncio.run(steps())


def percent(router: GatewayAPIRouter, route: Route, *, source: str, target: str) -> int | None:
    return asyncio.run(router.target_percent(route, source=source, target=target))


def live(fleet: Fleet, route: Route) -> dict[str, int] | None:
    """The weights the edge's data plane routes by now (Traefik's API)."""
    services = httpx.get(f"{fleet.dataplane.edge_api}/api/http/services", timeout=5).json()
    return live_weights(services, route, gateway=(EDGE_NAMESPACE, EDGE_GATEWAY))


class Recorder:
    """Records the cluster weights of every event a watch on one HTTPRoute delivers.

    The watch starts at ``resource_version`` (so no event after it is missed, however late the
    thread connects) and stops at the first event whose weights are ``until``, or after
    WATCH_SECONDS.
    """

    def __init__(
        self,
        objects: client.CustomObjectsApi,
        route: Route,
        *,
        resource_version: str,
        until: dict[str, int],
    ) -> None:
        self.objects, self.route = objects, route
        self.resource_version, self.final = resource_version, until
        self.seen: list[dict[str, int]] = []
        self.done = threading.Event()
        self.watch = watch.Watch()
        self.error: BaseException | None = None

    def start(self) -> None:
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        try:
            for event in self.watch.stream(
                self.objects.list_namespaced_custom_object,
                GROUP,
                VERSION,
                self.route.namespace,
                PLURAL,
                field_selector=f"metadata.name={self.route.name}",
                resource_version=self.resource_version,
                timeout_seconds=WATCH_SECONDS,
                _request_timeout=WATCH_SECONDS + 10,
            ):
                weights = stored_split(self.route, event["raw_object"]).weights
                self.seen.append(weights)
                if weights == self.final:
                    self.watch.stop()
        except BaseException as exc:  # reported by the test thread
            self.error = exc
        finally:
            self.done.set()

    def wait(self) -> list[dict[str, int]]:
        assert self.done.wait(WATCH_SECONDS + 15), "the watch did not end"
        if self.error is not None:
            raise self.error
        return self.seen


def test_every_step_reaches_the_data_plane_in_order_ending_all_on_target(
    fleet: Fleet,
    edge: HTTPRoutes,
    backends: EdgeBackends,
    route: Route,
    objects: client.CustomObjectsApi,
) -> None:
    """A watch records 10, 50, 100 percent in order; after each shift returns, the edge's data
    plane routes by it (Traefik's live weights), ending with 100 on the target."""
    router = router_for(fleet, edge, backends)
    shift(router, route, 0, source="hubei", target="ningxia")
    listed: Any = objects.list_namespaced_custom_object(GROUP, VERSION, route.namespace, PLURAL)
    final = {"hubei": 0, "ningxia": 100, "shanghai": 0}
    recorder = Recorder(
        objects, route, resource_version=listed["metadata"]["resourceVersion"], until=final
    )
    recorder.start()

    for step in STEPS:
        shift(router, route, step, source="hubei", target="ningxia")
        assert live(fleet, route) == {"hubei": 100 - step, "ningxia": step, "shanghai": 0}

    # the gateway writing the route's status is an event too: keep the changes of weights
    start = {"hubei": 100, "ningxia": 0, "shanghai": 0}
    events = recorder.wait()
    seen = [w for i, w in enumerate(events) if w != start and (i == 0 or w != events[i - 1])]
    assert seen == [{"hubei": 100 - p, "ningxia": p, "shanghai": 0} for p in STEPS]
    assert seen[-1] == final
    assert percent(router, route, source="hubei", target="ningxia") == 100


def test_installing_the_gateway_api_again_changes_nothing(fleet: Fleet, edge: HTTPRoutes) -> None:
    """Installing the Gateway API CRDs into a cluster that has them succeeds and lists them."""
    names = install_gateway_api(fleet.kubectl_on(EDGE), EDGE)
    assert "httproutes.gateway.networking.k8s.io" in names
    assert "gateways.gateway.networking.k8s.io" in names


def test_route_does_not_exist_until_the_first_shift(
    fleet: Fleet, edge: HTTPRoutes, backends: EdgeBackends, route: Route
) -> None:
    """Before any shift the target's percent is None; after the first it is the shifted percent,
    and gridshift's backends exist at the edge, one per cluster, labelled as its own."""
    router = router_for(fleet, edge, backends)
    assert percent(router, route, source="shanghai", target="hubei") is None
    shift(router, route, 10, source="shanghai", target="hubei")
    assert percent(router, route, source="shanghai", target="hubei") == 10
    assert backends.clusters(route.namespace, route.name) == sorted(CLUSTERS)


def test_rollback_to_zero_restores_the_source_to_100(
    fleet: Fleet, edge: HTTPRoutes, backends: EdgeBackends, route: Route
) -> None:
    """Shifting back to 0 after 10 and 50 puts the source back at 100 and the others at 0."""
    router = router_for(fleet, edge, backends)
    shift(router, route, 10, 50, 0, source="shanghai", target="ningxia")
    stored = edge.read(route.namespace, route.name)
    assert stored is not None
    assert stored_split(route, stored).weights == {"shanghai": 100, "hubei": 0, "ningxia": 0}
    assert live(fleet, route) == {"shanghai": 100, "hubei": 0, "ningxia": 0}


def test_shifting_twice_to_the_same_percent_changes_nothing(
    fleet: Fleet, edge: HTTPRoutes, backends: EdgeBackends, route: Route
) -> None:
    """A repeated shift to the same percent stores the same weights at the same generation."""
    router = router_for(fleet, edge, backends)
    wanted = {"hubei": 50, "shanghai": 50, "ningxia": 0}
    first = router.apply_weights(route, wanted)
    version = (edge.read(route.namespace, route.name) or {})["metadata"]
    again = router.apply_weights(route, wanted)
    assert again == first
    assert (edge.read(route.namespace, route.name) or {})["metadata"] == version


def test_unknown_cluster_is_refused_before_anything_is_written(
    fleet: Fleet, edge: HTTPRoutes, backends: EdgeBackends, route: Route
) -> None:
    """A target with no backend in the route raises a clear error and creates no route."""
    router = router_for(fleet, edge, backends)
    with pytest.raises(UnknownClusterError, match=r"target cluster 'gansu' has no backend.*hubei"):
        shift(router, route, 10, source="hubei", target="gansu")
    assert edge.read(route.namespace, route.name) is None


def test_route_attaches_to_the_configured_gateway_and_sets_the_workload_header(
    fleet: Fleet, edge: HTTPRoutes, backends: EdgeBackends, route: Route
) -> None:
    """The stored route's parentRef is the configured Gateway; its rule sets the workload
    header; its labels mark it as gridshift's."""
    router = router_for(fleet, edge, backends)
    shift(router, route, 10, source="hubei", target="ningxia")
    stored: Any = edge.read(route.namespace, route.name)
    parent = stored["spec"]["parentRefs"]
    assert [(p["kind"], p["name"], p["namespace"]) for p in parent] == [
        ("Gateway", EDGE_GATEWAY, EDGE_NAMESPACE)
    ]
    header = stored["spec"]["rules"][0]["filters"][0]["requestHeaderModifier"]["set"][0]
    assert header == {"name": "X-Gridshift-Workload", "value": f"{route.namespace}/llama"}
    assert stored["metadata"]["labels"]["gridshift.io/managed"] == "true"


def test_a_step_no_gateway_programs_fails_in_bounded_time(
    fleet: Fleet, edge: HTTPRoutes, backends: EdgeBackends, route: Route
) -> None:
    """A route whose Gateway no data plane serves is stored, but the step fails with
    TrafficNotProgrammedError naming why, within the step timeout."""
    router = router_for(
        fleet, edge, backends, parent=ParentRef("nobody", namespace=route.namespace),
        step_timeout_seconds=3,
    )  # fmt: skip
    started = time.monotonic()
    with pytest.raises(TrafficNotProgrammedError, match=r"within 3 s: no gateway has reported"):
        shift(router, route, 10, source="hubei", target="ningxia")
    assert time.monotonic() - started < 15
    assert edge.read(route.namespace, route.name) is not None


def test_a_route_gridshift_did_not_create_is_never_taken_over(
    fleet: Fleet,
    edge: HTTPRoutes,
    backends: EdgeBackends,
    route: Route,
    objects: client.CustomObjectsApi,
) -> None:
    """A same-named HTTPRoute someone else made is refused with ForeignObjectError, unchanged."""
    theirs = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "HTTPRoute",
        "metadata": {"name": route.name, "namespace": route.namespace},
        "spec": {"hostnames": ["theirs.example.test"]},
    }
    created: Any = objects.create_namespaced_custom_object(
        GROUP, VERSION, route.namespace, PLURAL, theirs
    )  # as stored: with the API server's defaults (a rule matching every path)
    router = router_for(fleet, edge, backends)
    with pytest.raises(ForeignObjectError, match="not created by gridshift"):
        shift(router, route, 10, source="hubei", target="ningxia")
    after: Any = edge.read(route.namespace, route.name)
    assert after["spec"] == created["spec"]
    assert "backendRefs" not in str(after["spec"])


def test_hand_edited_weights_are_taken_back(
    fleet: Fleet,
    edge: HTTPRoutes,
    backends: EdgeBackends,
    route: Route,
    objects: client.CustomObjectsApi,
) -> None:
    """Hostnames another manager set survive a shift; weights edited by hand are taken back."""
    router = router_for(fleet, edge, backends)
    shift(router, route, 10, source="hubei", target="ningxia")
    stored: Any = edge.read(route.namespace, route.name)
    edited = stored["spec"]["rules"]
    edited[0]["backendRefs"][0]["weight"] = 77
    objects.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        route.namespace,
        PLURAL,
        route.name,
        {"spec": {"hostnames": ["llama.example.test"], "rules": edited}},
        field_manager="someone-else",
    )

    shift(router, route, 50, source="hubei", target="ningxia")

    after: Any = edge.read(route.namespace, route.name)
    assert after["spec"]["hostnames"] == ["llama.example.test"]
    assert stored_split(route, after).weights == {"hubei": 50, "ningxia": 50, "shanghai": 0}


def _closed_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_edge_is_a_cluster_error_not_a_hang() -> None:
    """An edge whose API server does not answer (a closed loopback port) raises ClusterError fast."""
    kubeconfig = f"""
apiVersion: v1
kind: Config
clusters:
- name: dark
  cluster: {{server: "https://127.0.0.1:{_closed_loopback_port()}", insecure-skip-tls-verify: true}}
users:
- name: dark
  user: {{token: not-a-secret}}
contexts:
- name: dark
  context: {{cluster: dark, user: dark}}
current-context: dark
"""
    api = client_from_kubeconfig(kubeconfig)
    router = GatewayAPIRouter(
        HTTPRoutes(api, cluster="dark-edge", timeout=5), EdgeBackends(api, cluster="dark-edge")
    )
    route = Route("ai", "llama", {c: Backend(f"llama-{c}", port=8000) for c in CLUSTERS})
    started = time.monotonic()
    with pytest.raises(ClusterError, match=r"'dark-edge'.*unreachable") as shifted:
        shift(router, route, 10, source="hubei", target="ningxia")
    with pytest.raises(ClusterError, match=r"'dark-edge'.*unreachable"):
        percent(router, route, source="hubei", target="ningxia")
    assert isinstance(shifted.value, KubeError)
    assert shifted.value.unreachable
    assert time.monotonic() - started < 20

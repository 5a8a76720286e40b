"""The fleet's Gateway API data plane: a Traefik edge and an ingress gateway per real province.

Traefik (pure Go, built from the Go module proxy by ``hack/build-k8s-binaries.sh``) implements
the Gateway API; two roles, each with a GatewayClass of its own so that several Traefik
instances reading one cluster never program each other's Gateways (each instance reads only the
GatewayClasses carrying its role label):

- the **edge**, on the host: the Gateway ``gridshift-edge/edge`` in the edge cluster (the hub),
  listening on ``127.0.0.1:<edge port>`` — where users' requests arrive. gridshift shifts the
  weights of each workload's HTTPRoute there.
- an **ingress gateway** in every province with a real node, inside the province's namespace:
  the Gateway ``gridshift-ingress/ingress`` of that cluster, listening on the node address, port
  8000 — what the edge reaches, through the province's WAN proxy (wan.py). gridshift attaches
  each workload's route in the member cluster to it.

How a request travels: client → edge (127.0.0.1) → the workload's edge route picks a cluster
by weight → that cluster's backend Service at the edge, whose EndpointSlice points at the
province's WAN proxy (10.250.n.1:8000, delayed) → the province's ingress gateway
(10.250.n.2:8000) → the workload's route in the member cluster → a pod on the real node.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from orchestrator.devenv.binaries import Binaries
from orchestrator.devenv.gateway import install_gateway_api
from orchestrator.devenv.kubectl import FIELD_MANAGER, Kubectl
from orchestrator.devenv.netns import ProvinceNet
from orchestrator.devenv.wan import INGRESS_PORT
from orchestrator.errors import DevEnvError

GATEWAY_GROUP = "gateway.networking.k8s.io"
CONTROLLER = "traefik.io/gateway-controller"
ROLE_LABEL = "gateway.gridshift.io/role"
EDGE_CLASS = "gridshift-edge"
EDGE_NAMESPACE = "gridshift-edge"
EDGE_GATEWAY = "edge"
INGRESS_CLASS = "gridshift-ingress"
INGRESS_NAMESPACE = "gridshift-ingress"
INGRESS_GATEWAY = "ingress"
MEMBER_API_PORT = 9000
"""Traefik's API and ping of an ingress gateway, on the province's loopback."""
START_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class Province:
    """What the data plane needs of one cluster."""

    name: str
    kubectl: Kubectl
    kubeconfig: Path
    """A kubeconfig that works where the gateway runs (host: the host's; namespace: local)."""
    net: ProvinceNet | None


def gateway_objects(
    *, class_name: str, role: str, namespace: str, gateway: str, port: int
) -> list[dict[str, Any]]:
    """A GatewayClass of the given role, a namespace and a Gateway with one HTTP listener that
    accepts routes from every namespace."""
    return [
        {
            "apiVersion": f"{GATEWAY_GROUP}/v1",
            "kind": "GatewayClass",
            "metadata": {"name": class_name, "labels": {ROLE_LABEL: role}},
            "spec": {"controllerName": CONTROLLER},
        },
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
        {
            "apiVersion": f"{GATEWAY_GROUP}/v1",
            "kind": "Gateway",
            "metadata": {"name": gateway, "namespace": namespace},
            "spec": {
                "gatewayClassName": class_name,
                "listeners": [
                    {
                        "name": "http",
                        "protocol": "HTTP",
                        "port": port,
                        "allowedRoutes": {"namespaces": {"from": "All"}},
                    }
                ],
            },
        },
    ]


class DataPlane:
    """The Traefik processes of one fleet and the Gateway objects they serve."""

    def __init__(
        self,
        directory: Path,
        binaries: Binaries,
        *,
        edge_port: int,
        api_port: int,
        api_host: str = "127.0.0.1",
    ) -> None:
        self.directory = directory
        self.binaries = binaries
        self.edge_port = edge_port
        self.api_port = api_port
        self.api_host = api_host
        """Where the edge's API listens: the edge province's host address, so an operator
        running as a Pod in a province reaches it as well as one on the host."""

    @property
    def edge_url(self) -> str:
        """Where users' requests enter the fleet."""
        return f"http://127.0.0.1:{self.edge_port}"

    @property
    def edge_api(self) -> str:
        """The edge Traefik's own API (its live routing configuration)."""
        return f"http://{self.api_host}:{self.api_port}"

    def _static_config(self, role: str, *, entry: str, api: str) -> dict[str, Any]:
        """Traefik's static configuration (file only: Traefik takes its static configuration
        from one source, and the file's path names this fleet in the command line)."""
        return {
            "global": {"checkNewVersion": False, "sendAnonymousUsage": False},
            "entryPoints": {"web": {"address": entry}, "traefik": {"address": api}},
            "api": {"insecure": True, "dashboard": False},
            "ping": {},
            "log": {"level": "INFO"},
            **({"accessLog": {}} if role == "edge" else {}),
            "providers": {
                # Traefik's default: a change within 2 s of the last one waits (and changes in
                # between are dropped), so a weight step is confirmed, never assumed
                "providersThrottleDuration": "2s",
                "kubernetesGateway": {"labelSelector": f"{ROLE_LABEL}={role}"},
            },
            # a province that stops answering fails requests in bounded time, not never
            "serversTransport": {
                "forwardingTimeouts": {"dialTimeout": "3s", "responseHeaderTimeout": "60s"}
            },
        }

    def _spawn(
        self, name: str, config: dict[str, Any], kubeconfig: Path, prefix: Sequence[str] = ()
    ) -> Path:
        binary = self.binaries.path("traefik")
        if not binary.is_file():
            raise DevEnvError(
                f"traefik is not in {self.binaries.directory}: run hack/build-k8s-binaries.sh "
                "(it builds Traefik too)"
            )
        self.directory.mkdir(parents=True, exist_ok=True)
        config_file = self.directory / f"traefik-{name}.yaml"
        config_file.write_text(yaml.safe_dump(config, sort_keys=False))
        log_file = self.directory / f"traefik-{name}.log"
        with log_file.open("ab") as log:
            subprocess.Popen(
                [*prefix, str(binary), f"--configFile={config_file}"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                env={"KUBECONFIG": str(kubeconfig), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
            )
        return log_file

    def start(self, edge: Province, members: Sequence[Province]) -> None:
        """Gateway API CRDs, classes and Gateways in place; every Traefik running and ready."""
        for province in {p.name: p for p in (edge, *members)}.values():
            install_gateway_api(province.kubectl, province.name)
        _apply(
            edge.kubectl,
            gateway_objects(
                class_name=EDGE_CLASS, role="edge", namespace=EDGE_NAMESPACE,
                gateway=EDGE_GATEWAY, port=self.edge_port,
            ),
        )  # fmt: skip
        for member in members:
            _apply(
                member.kubectl,
                gateway_objects(
                    class_name=INGRESS_CLASS, role="ingress", namespace=INGRESS_NAMESPACE,
                    gateway=INGRESS_GATEWAY, port=INGRESS_PORT,
                ),
            )  # fmt: skip
        waits: list[tuple[str, list[str], str, Path]] = []
        if not _pings(f"{self.edge_api}/ping", []):
            config = self._static_config(
                "edge",
                entry=f"127.0.0.1:{self.edge_port}",
                api=f"{self.api_host}:{self.api_port}",
            )
            log = self._spawn("edge", config, edge.kubeconfig)
            waits.append(("edge", [], f"{self.edge_api}/ping", log))
        for member in members:
            if member.net is None:
                raise DevEnvError(f"the ingress gateway of {member.name!r} needs its namespace")
            prefix = member.net.exec_prefix()
            ping = f"http://127.0.0.1:{MEMBER_API_PORT}/ping"
            if not _pings(ping, prefix):
                config = self._static_config(
                    "ingress",
                    entry=f"{member.net.node_ip}:{INGRESS_PORT}",
                    api=f"127.0.0.1:{MEMBER_API_PORT}",
                )
                log = self._spawn(member.name, config, member.kubeconfig, prefix)
                waits.append((member.name, prefix, ping, log))
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        for name, prefix, ping, log in waits:
            while not _pings(ping, prefix):
                if time.monotonic() > deadline:
                    raise DevEnvError(f"the Traefik gateway {name!r} did not start; see {log}")
                time.sleep(0.3)


def _apply(kubectl: Kubectl, documents: list[dict[str, Any]]) -> None:
    kubectl(
        "apply", "--server-side", "--force-conflicts", f"--field-manager={FIELD_MANAGER}",
        "-f", "-", stdin=yaml.safe_dump_all(documents, sort_keys=False),
    )  # fmt: skip


def _pings(url: str, prefix: Sequence[str]) -> bool:
    """Whether Traefik answers its ping at ``url`` (from inside a namespace with ``prefix``)."""
    if not prefix:
        try:
            return httpx.get(url, timeout=1).status_code == 200
        except httpx.HTTPError:
            return False
    done = subprocess.run(
        [*prefix, sys.executable, "-c",
         f"import urllib.request,sys; urllib.request.urlopen({url!r}, timeout=1)"],
        capture_output=True, check=False, timeout=10,
    )  # fmt: skip
    return done.returncode == 0

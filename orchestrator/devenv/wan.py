"""The WAN between provinces: Toxiproxy in front of every province, with a delay each way.

This machine's kernel has no ``netem`` qdisc, so the delay between provinces is added by
Toxiproxy (built from the Go module proxy by ``hack/build-k8s-binaries.sh``), a TCP proxy with
fault injection. One ``toxiproxy-server`` per fleet runs on the host, its API on loopback. For
every province it listens on the province's host address (see :mod:`orchestrator.devenv.netns`)
and forwards to the province's node address:

- ``<cluster>-ingress``: ``10.250.n.1:8000`` → the province's ingress gateway, ``10.250.n.2:8000``
  (the edge's data plane reaches every province through it);
- ``<cluster>-apiserver``: ``10.250.n.1:6443`` → the province's kube-apiserver (the kubeconfig
  gridshift is given for a member cluster points here).

Each proxy delays data by the province's one-way delay from the hub, in both directions, so a
round trip costs twice that. The defaults (:data:`ONE_WAY_MS`) are what a fibre path between
the data-centre regions costs, rounded up: Shanghai-Hubei 15 ms, Shanghai-Ningxia 30 ms,
Hubei-Ningxia 20 ms one way; a province to itself 0 ms.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from orchestrator.devenv import procs
from orchestrator.devenv.binaries import Binaries
from orchestrator.devenv.netns import ProvinceNet
from orchestrator.errors import DevEnvError

INGRESS_PORT = 8000
APISERVER_PORT = 6443
ONE_WAY_MS: Mapping[frozenset[str], int] = {
    frozenset({"shanghai", "hubei"}): 15,
    frozenset({"shanghai", "ningxia"}): 30,
    frozenset({"hubei", "ningxia"}): 20,
}
DEFAULT_ONE_WAY_MS = 20
"""One-way delay between two provinces the table does not name."""
START_TIMEOUT_SECONDS = 20.0


def one_way_ms(a: str, b: str) -> int:
    """The one-way delay between provinces ``a`` and ``b`` (0 within a province)."""
    if a == b:
        return 0
    return ONE_WAY_MS.get(frozenset({a, b}), DEFAULT_ONE_WAY_MS)


@dataclass(frozen=True)
class Link:
    """One proxy: where it listens, where it forwards, and the delay it adds each way."""

    name: str
    listen: str
    upstream: str
    one_way_ms: int


def province_links(net: ProvinceNet, *, hub: str, apiserver_port: int) -> list[Link]:
    """The two proxies in front of province ``net``, delayed by its distance from ``hub``."""
    delay = one_way_ms(hub, net.cluster)
    return [
        Link(
            f"{net.cluster}-ingress",
            f"{net.host_ip}:{INGRESS_PORT}",
            f"{net.node_ip}:{INGRESS_PORT}",
            delay,
        ),
        Link(
            f"{net.cluster}-apiserver",
            f"{net.host_ip}:{APISERVER_PORT}",
            f"{net.node_ip}:{apiserver_port}",
            delay,
        ),
    ]


class Wan:
    """The fleet's Toxiproxy server and its proxies."""

    def __init__(self, directory: Path, binaries: Binaries, *, api_port: int) -> None:
        self.directory = directory
        self.binaries = binaries
        self.api_port = api_port

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def log_file(self) -> Path:
        return self.directory / "toxiproxy.log"

    def start(self) -> None:
        """Start the server (once) and wait until its API answers."""
        binary = self.binaries.path("toxiproxy-server")
        if not binary.is_file():
            raise DevEnvError(
                f"toxiproxy-server is not in {self.binaries.directory}: run "
                "hack/build-k8s-binaries.sh (it builds Toxiproxy too)"
            )
        if self.answers():
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            subprocess.Popen(
                [
                    str(binary),
                    "-host",
                    "127.0.0.1",
                    "-port",
                    str(self.api_port),
                    "-config",
                    str(self._config_file()),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                cwd=self.directory,
            )
        if not procs.wait_port(self.api_port, timeout_seconds=START_TIMEOUT_SECONDS):
            raise DevEnvError(f"toxiproxy did not start; see {self.log_file}")

    def _config_file(self) -> Path:
        """An empty proxy list given at start: proxies are made through the API, and the
        file's path names this fleet in the server's command line."""
        path = self.directory / "toxiproxy.json"
        path.write_text("[]\n")
        return path

    def answers(self) -> bool:
        try:
            return httpx.get(f"{self.api}/version", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def _call(self, method: str, path: str, body: object | None = None) -> httpx.Response:
        try:
            answer = httpx.request(method, f"{self.api}{path}", json=body, timeout=10)
        except httpx.HTTPError as exc:
            raise DevEnvError(f"toxiproxy {method} {path} failed: {exc}") from exc
        if answer.status_code >= 400 and answer.status_code != 404:
            raise DevEnvError(
                f"toxiproxy {method} {path} answered {answer.status_code}: {answer.text[:300]}"
            )
        return answer

    def ensure(self, link: Link) -> None:
        """The proxy ``link`` exists, enabled, with exactly its latency toxics."""
        found = self._call("GET", f"/proxies/{link.name}")
        if found.status_code == 404:
            self._call(
                "POST",
                "/proxies",
                {"name": link.name, "listen": link.listen, "upstream": link.upstream},
            )
        else:
            self._call(
                "POST",
                f"/proxies/{link.name}",
                {"listen": link.listen, "upstream": link.upstream, "enabled": True},
            )
        for stream in ("upstream", "downstream"):
            toxic = f"wan-{stream}"
            self._call("DELETE", f"/proxies/{link.name}/toxics/{toxic}")
            if link.one_way_ms > 0:
                self._call(
                    "POST",
                    f"/proxies/{link.name}/toxics",
                    {
                        "name": toxic,
                        "type": "latency",
                        "stream": stream,
                        "toxicity": 1.0,
                        "attributes": {"latency": link.one_way_ms, "jitter": 0},
                    },
                )

    def set_enabled(self, name: str, enabled: bool) -> None:
        """Enable or disable one proxy (disabling closes its connections and listener)."""
        self._call("POST", f"/proxies/{name}", {"enabled": enabled})

    def wait_listening(self, link: Link, *, timeout_seconds: float = 10) -> None:
        host, _, port = link.listen.rpartition(":")
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((host, int(port)), 0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise DevEnvError(f"toxiproxy does not listen on {link.listen} ({link.name})")

"""The local fleet: named clusters of real control planes, KWOK nodes and (some) real nodes.

A :class:`Fleet` lives in a working directory: ``kwok/`` (kwokctl's per-cluster state:
kubeconfig, pki, logs, pids, and our config for each cluster), ``nodes/<name>/`` (a real node's
containerd, kubelet and kube-proxy), ``wan/`` and ``dataplane/`` (Toxiproxy and the Traefik
gateways) and ``fleet.json`` (what ``gridshift dev down`` needs to find everything again).

Without real nodes every cluster runs on 127.0.0.1 and nothing needs root. With real nodes
(``ClusterSpec.real_node`` on any cluster) every cluster gets a network namespace of its own
(:mod:`orchestrator.devenv.netns`), the provinces are joined by Toxiproxy with a WAN delay
(:mod:`orchestrator.devenv.wan`), and a Traefik edge routes requests into each province's
ingress gateway (:mod:`orchestrator.devenv.dataplane`). Clusters start one after the other;
real nodes start side by side.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

import yaml

from orchestrator.devenv import netns, procs
from orchestrator.devenv.binaries import Binaries
from orchestrator.devenv.controlplane import ControlPlane
from orchestrator.devenv.dataplane import DataPlane, Province
from orchestrator.devenv.images import ensure_image
from orchestrator.devenv.kubectl import FIELD_MANAGER, Kubectl
from orchestrator.devenv.netns import ProvinceNet
from orchestrator.devenv.nodes import (
    DEFAULT_CLUSTERS,
    SIM_LABEL,
    ClusterSpec,
    default_cluster_specs,
    node_manifests,
)
from orchestrator.devenv.postgres import LocalPostgres
from orchestrator.devenv.realnode import Image, RealNode
from orchestrator.devenv.wan import APISERVER_PORT, Wan, province_links
from orchestrator.errors import DevEnvError

STATE_FILE = "fleet.json"
NODE_IMAGES = ("modelserver",)
"""Images every real node holds besides the pause image (see images.py)."""

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


class Fleet:
    """Real control planes, one per named cluster, plus (optionally) a local PostgreSQL."""

    def __init__(
        self,
        workdir: Path,
        binaries: Binaries,
        specs: Sequence[ClusterSpec],
        postgres: LocalPostgres | None = None,
        *,
        index: int | None = None,
        ports: dict[str, int] | None = None,
    ) -> None:
        self.workdir = workdir.resolve()
        self.binaries = binaries
        self.specs = list(specs)
        self.postgres = postgres
        self.index = index
        """The fleet's network slot (netns.claim_fleet_index) when it has real nodes."""
        self.ports = dict(ports or {})
        """Host loopback ports of the fleet's own servers (Toxiproxy API, the edge)."""

    # -- where things are ------------------------------------------------------------------

    @property
    def namespaced(self) -> bool:
        """Whether the clusters live in network namespaces (the fleet has a real node)."""
        return any(s.real_node for s in self.specs)

    @property
    def edge_cluster(self) -> str:
        """The cluster that holds the edge's routes (the hub in the tests and the demo)."""
        return self.specs[0].name

    def spec(self, name: str) -> ClusterSpec:
        for spec in self.specs:
            if spec.name == name:
                return spec
        raise DevEnvError(f"no cluster named {name!r} in the fleet at {self.workdir}")

    def net(self, name: str) -> ProvinceNet | None:
        """Cluster ``name``'s network namespace, or None on a loopback fleet."""
        spec = self.spec(name)
        if not self.namespaced:
            return None
        if self.index is None:
            raise DevEnvError(f"the fleet at {self.workdir} has no network slot yet: run `up`")
        return ProvinceNet(self.index, self.specs.index(spec), name)

    def control_plane(self, name: str) -> ControlPlane:
        return ControlPlane(name, self.workdir / "kwok", self.binaries, self.net(name))

    def real_node(self, name: str) -> RealNode | None:
        spec, net = self.spec(name), self.net(name)
        if not spec.real_node or net is None:
            return None
        plane = self.control_plane(name)
        return RealNode(
            self.workdir / "nodes" / name,
            net,
            self.binaries,
            kubeconfig=plane.local_kubeconfig,
            client_ca=plane.pki / "ca.crt",
            gpus=spec.real_gpus,
        )

    @property
    def wan(self) -> Wan:
        return Wan(self.workdir / "wan", self.binaries, api_port=self._port("wan"))

    @property
    def dataplane(self) -> DataPlane:
        net = self.net(self.edge_cluster)
        return DataPlane(
            self.workdir / "dataplane",
            self.binaries,
            edge_port=self._port("edge"),
            api_port=self._port("edge-api"),
            api_host=net.host_ip if net is not None else "127.0.0.1",
        )

    def _port(self, name: str) -> int:
        if name not in self.ports:
            self.ports[name] = procs.free_port()
        return self.ports[name]

    def kubeconfig(self, name: str) -> Path:
        """The admin kubeconfig of cluster ``name`` as the host reaches it."""
        return self.control_plane(name).host_kubeconfig()

    def portable_kubeconfig(self, name: str) -> str:
        """Cluster ``name``'s kubeconfig with its certificates inline, as a Secret holds it:
        through the province's WAN proxy when the fleet has real nodes."""
        net = self.net(name)
        server = f"https://{net.host_ip}:{APISERVER_PORT}" if net is not None else None
        return self.control_plane(name).member_kubeconfig(server=server)

    def kubeconfigs(self) -> dict[str, Path]:
        return {s.name: self.kubeconfig(s.name) for s in self.specs}

    def server(self, name: str) -> str:
        config = yaml.safe_load(self.kubeconfig(name).read_text())
        return str(config["clusters"][0]["cluster"]["server"])

    # -- running the tools -----------------------------------------------------------------

    def kubectl(self, name: str, *args: str, stdin: str | None = None, timeout: float = 60) -> str:
        """Run the fleet's kubectl against cluster ``name``; return its output."""
        return self.control_plane(name).kubectl(*args, stdin=stdin, timeout=timeout)

    def kubectl_on(self, name: str) -> Kubectl:
        """``kubectl`` against cluster ``name`` as a function of its arguments."""

        def run(*args: str, stdin: str | None = None, timeout: float = 60) -> str:
            return self.kubectl(name, *args, stdin=stdin, timeout=timeout)

        return run

    # -- lifecycle ---------------------------------------------------------------------------

    def up(self, *, progress: Progress = _quiet, with_postgres: bool = False) -> None:
        """Start every cluster (and PostgreSQL if asked); add GPU nodes; wait until Ready.

        Safe to call again: what is already running is left as it is.
        """
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.namespaced:
            if os.geteuid() != 0:
                raise DevEnvError(
                    "real nodes need root (network namespaces, containerd, kubelet): run as "
                    "root, or start the fleet without real nodes (--real-nodes none)"
                )
            if self.index is None:
                self.index = netns.claim_fleet_index()
        self.save()  # first, so that `down` can clean up after a start that fails half-way
        for spec in self.specs:
            started = time.monotonic()
            net = self.net(spec.name)
            if net is not None:
                net.create()
            progress(f"cluster {spec.name}: starting etcd, kube-apiserver, controllers, kwok")
            self._create(spec, progress)
            progress(
                f"cluster {spec.name}: ready in {time.monotonic() - started:.1f} s at "
                f"{self.server(spec.name)} with {spec.gpu_nodes} simulated GPU nodes"
            )
        if self.namespaced:
            self._up_network(progress)
        if with_postgres and self.postgres is None:
            progress("postgresql: starting")
            self.postgres = LocalPostgres.create()
            self.save()
            self.postgres.start()
            progress(f"postgresql: ready on 127.0.0.1:{self.postgres.port}")
        self.save()

    def _create(self, spec: ClusterSpec, progress: Progress, attempts: int = 3) -> None:
        """Create one cluster with its simulated nodes Ready; a start that fails (a port taken
        between kwokctl choosing it and a component binding it, which leaves the nodes never
        Ready) is deleted and tried again. A cluster already serving is left alone."""
        plane = self.control_plane(spec.name)
        if plane.local_kubeconfig.exists() and self.reachable(spec.name):
            return
        for attempt in range(1, attempts + 1):
            try:
                plane.create()
                self._add_nodes(spec)
                return
            except DevEnvError as exc:
                if attempt == attempts:
                    raise
                progress(f"cluster {spec.name}: start failed ({exc}); deleting it, trying again")
                plane.delete()

    def _add_nodes(self, spec: ClusterSpec) -> None:
        if spec.gpu_nodes == 0:
            return
        manifest = yaml.safe_dump_all(node_manifests(spec))
        self.kubectl(
            spec.name, "apply", "--server-side", f"--field-manager={FIELD_MANAGER}", "-f", "-",
            stdin=manifest,
        )  # fmt: skip
        self.kubectl(
            spec.name, "wait", "--for=condition=Ready", "node", "-l", SIM_LABEL,
            "--timeout=120s",  # KWOK marks them Ready at once; a loaded machine needs the slack
            timeout=150,
        )  # fmt: skip

    def _up_network(self, progress: Progress) -> None:
        """The WAN proxies, the real nodes (side by side) and the gateways."""
        wan = self.wan
        wan.start()
        for spec in self.specs:
            net = self.net(spec.name)
            if net is None:
                continue
            port = self.control_plane(spec.name).port()
            for link in province_links(net, hub=self.edge_cluster, apiserver_port=port):
                wan.ensure(link)
        progress(f"wan: toxiproxy on 127.0.0.1:{wan.api_port}, a proxy per province")
        nodes = [n for s in self.specs if (n := self.real_node(s.name)) is not None]
        if nodes:
            progress(f"real nodes: preparing images ({', '.join(NODE_IMAGES)})")
            sandbox, images = _image("pause"), [_image(name) for name in NODE_IMAGES]
            with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
                started = time.monotonic()
                list(
                    pool.map(
                        lambda node: node.start(
                            self.kubectl_on(node.net.cluster), sandbox=sandbox, images=images
                        ),
                        nodes,
                    )
                )
            progress(
                f"real nodes: {', '.join(n.name for n in nodes)} Ready in "
                f"{time.monotonic() - started:.1f} s"
            )
        edge = self.edge_cluster
        self.dataplane.start(
            Province(edge, self.kubectl_on(edge), self.kubeconfig(edge), self.net(edge)),
            [
                Province(
                    node.net.cluster,
                    self.kubectl_on(node.net.cluster),
                    self.control_plane(node.net.cluster).local_kubeconfig,
                    node.net,
                )
                for node in nodes
            ],
        )
        progress(f"data plane: edge gateway at {self.dataplane.edge_url}, an ingress per node")

    def down(self, *, progress: Progress = _quiet) -> None:
        """Delete every cluster and stop PostgreSQL; leave no process, mount or namespace."""
        for spec in self.specs:
            node = self.real_node(spec.name) if self.index is not None else None
            if node is not None:
                progress(f"real node {node.name}: stopping pods, kubelet, containerd")
                node.stop()
        for spec in self.specs:
            if self.control_plane(spec.name).directory.exists():
                progress(f"cluster {spec.name}: deleting")
                self.control_plane(spec.name).delete()
        leftovers = procs.find(str(self.workdir))
        if leftovers:
            progress(f"stopping {len(leftovers)} leftover processes")
            procs.terminate([p.pid for p in leftovers])
        if self.postgres is not None:
            progress("postgresql: stopping")
            self.postgres.stop()
            self.postgres = None
        if self.index is not None:
            for spec in self.specs:
                net = self.net(spec.name)
                if net is not None:
                    net.delete()
            netns.release_fleet_index(self.index)
        shutil.rmtree(self.workdir, ignore_errors=True)

    # -- a province going dark ---------------------------------------------------------------

    def stop_apiserver(self, name: str) -> None:
        """Stop cluster ``name``'s kube-apiserver abruptly (its etcd keeps the objects); the
        controller manager and scheduler may exit too once they lose their leases."""
        self.control_plane(name).stop_apiserver()

    def start_apiserver(self, name: str, *, timeout_seconds: float = 120) -> None:
        """Start cluster ``name``'s stopped components again and wait until it is ready."""
        deadline = time.monotonic() + timeout_seconds
        self.control_plane(name).start(timeout=timeout_seconds)
        while not self.reachable(name):
            if time.monotonic() > deadline:
                raise DevEnvError(
                    f"kube-apiserver of {name!r} not ready after {timeout_seconds:.0f} s; see "
                    f"{self.control_plane(name).directory / 'logs' / 'kube-apiserver.log'}"
                )
            time.sleep(0.5)

    def province(self, name: str) -> ProvinceNet:
        """Cluster ``name``'s network, to cut and restore (``.cut()``, ``.restore()``): the
        province goes dark, its control plane, node, pods and gateway running, unreachable."""
        net = self.net(name)
        if net is None:
            raise DevEnvError("only a fleet with real nodes has province networks")
        return net

    # -- looking at it ---------------------------------------------------------------------

    def reachable(self, name: str, *, timeout_seconds: float = 5) -> bool:
        """Whether cluster ``name``'s API server answers /readyz."""
        try:
            self.kubectl(
                name, "get", "--raw", "/readyz", f"--request-timeout={timeout_seconds}s",
                timeout=timeout_seconds + 5,
            )  # fmt: skip
        except DevEnvError:
            return False
        return True

    # -- state ---------------------------------------------------------------------------------

    def save(self) -> None:
        state: dict[str, Any] = {
            "binaries": str(self.binaries.directory),
            "clusters": [asdict(s) for s in self.specs],
            "postgres": self.postgres.to_state() if self.postgres else None,
            "index": self.index,
            "ports": self.ports,
        }
        path = self.workdir / STATE_FILE
        path.write_text(json.dumps(state, indent=2))
        path.chmod(0o600)

    @classmethod
    def load(cls, workdir: Path) -> Fleet:
        """The fleet recorded in ``workdir`` by an earlier `up`."""
        path = workdir / STATE_FILE
        try:
            state = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise DevEnvError(
                f"no fleet recorded in {workdir} ({exc}); run `gridshift dev up`"
            ) from exc
        postgres = LocalPostgres.from_state(state["postgres"]) if state.get("postgres") else None
        return cls(
            workdir,
            Binaries(Path(state["binaries"])),
            [ClusterSpec(**c) for c in state["clusters"]],
            postgres,
            index=state.get("index"),
            ports={str(k): int(v) for k, v in (state.get("ports") or {}).items()},
        )


def _image(name: str) -> Image:
    built = ensure_image(name)
    return Image(built.path, built.ref)


__all__ = ["DEFAULT_CLUSTERS", "STATE_FILE", "Fleet", "default_cluster_specs"]

"""One cluster's control plane (etcd, kube-apiserver, controller manager, scheduler, KWOK),
started by ``kwokctl --runtime binary``, on loopback or inside the province's namespace.

Without real nodes the control plane binds 127.0.0.1 on the host, as before. With a real node
it runs inside the province's network namespace (:mod:`orchestrator.devenv.netns`) bound to
every address there (which is only the namespace's loopback, its bridge and its end of the veth
pair), so the kubelet reaches it at 127.0.0.1 and the host at the node address. Three
kubeconfigs come out of it:

- :attr:`ControlPlane.local_kubeconfig`: kwokctl's own, ``https://127.0.0.1:<port>`` — for
  processes inside the namespace (kubelet, kube-proxy, the ingress gateway);
- :meth:`ControlPlane.host_kubeconfig`: the same credentials at the node address, for the host
  (tests, the CLI, an operator run out of cluster);
- :meth:`ControlPlane.member_kubeconfig`: certificates inline, pointing at the province's WAN
  proxy, as the MemberCluster Secret in the hub holds it.
"""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path
from typing import Any

import yaml

from orchestrator.devenv import procs
from orchestrator.devenv.binaries import Binaries
from orchestrator.devenv.kwok import kwokctl_config
from orchestrator.devenv.netns import ProvinceNet
from orchestrator.errors import DevEnvError


def _inline(config: dict[str, Any]) -> dict[str, Any]:
    """A kubeconfig with its certificate files replaced by their contents."""
    for section, key in (("clusters", "cluster"), ("users", "user")):
        for entry in config.get(section, []):
            body = entry[key]
            for field in ("certificate-authority", "client-certificate", "client-key"):
                if field in body:
                    raw = Path(body.pop(field)).read_bytes()
                    body[f"{field}-data"] = base64.b64encode(raw).decode()
    return config


class ControlPlane:
    """The control plane of cluster ``name``, kept by kwokctl under ``kwok_dir``."""

    def __init__(
        self, name: str, kwok_dir: Path, binaries: Binaries, net: ProvinceNet | None
    ) -> None:
        self.name = name
        self.kwok_dir = kwok_dir
        self.binaries = binaries
        self.net = net

    @property
    def directory(self) -> Path:
        return self.kwok_dir / "clusters" / self.name

    @property
    def local_kubeconfig(self) -> Path:
        return self.directory / "kubeconfig.yaml"

    @property
    def config_file(self) -> Path:
        return self.kwok_dir / f"kwokctl-{self.name}.yaml"

    @property
    def pki(self) -> Path:
        return self.directory / "pki"

    def _load_local(self) -> dict[str, Any]:
        loaded: dict[str, Any] = yaml.safe_load(self.local_kubeconfig.read_text())
        return loaded

    def port(self) -> int:
        server = str(self._load_local()["clusters"][0]["cluster"]["server"])
        return int(server.rsplit(":", 1)[1])

    def host_kubeconfig(self) -> Path:
        """The kubeconfig the host uses (written next to kwokctl's on first use)."""
        if self.net is None:
            return self.local_kubeconfig
        path = self.directory / "host-kubeconfig.yaml"
        if not path.exists() or path.stat().st_mtime < self.local_kubeconfig.stat().st_mtime:
            config = self._load_local()
            config["clusters"][0]["cluster"]["server"] = f"https://{self.net.node_ip}:{self.port()}"
            path.write_text(yaml.safe_dump(config, sort_keys=False))
            path.chmod(0o600)
        return path

    def member_kubeconfig(self, *, server: str | None = None) -> str:
        """The kubeconfig with certificates inline, at ``server`` (default: as the host sees
        it), as a MemberCluster's Secret holds it."""
        config = _inline(yaml.safe_load(self.host_kubeconfig().read_text()))
        if server is not None:
            config["clusters"][0]["cluster"]["server"] = server
        return str(yaml.safe_dump(config, sort_keys=False))

    def kubectl(self, *args: str, stdin: str | None = None, timeout: float = 60) -> str:
        """Run the fleet's kubectl against this cluster from the host; return its output."""
        command = [str(self.binaries.path("kubectl")), "--kubeconfig", str(self.host_kubeconfig())]
        try:
            done = subprocess.run(
                [*command, *args], input=stdin, capture_output=True, text=True, check=True,
                timeout=timeout,
            )  # fmt: skip
        except subprocess.CalledProcessError as exc:
            raise DevEnvError(
                f"kubectl {' '.join(args)} on {self.name!r} failed: {exc.stderr.strip()[-1500:]}"
            ) from exc
        except subprocess.TimeoutExpired as exc:
            raise DevEnvError(f"kubectl {' '.join(args)} on {self.name!r} timed out") from exc
        return done.stdout

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            "KWOK_WORKDIR": str(self.kwok_dir),
            "KWOK_RUNTIME": "binary",
            "KWOK_KUBECTL_BINARY": str(self.binaries.path("kubectl")),
            "PATH": f"{self.binaries.directory}{os.pathsep}{os.environ.get('PATH', '')}",
        }

    def kwokctl(self, *args: str, timeout: float) -> None:
        prefix = self.net.exec_prefix() if self.net is not None else []
        command = [*prefix, str(self.binaries.path("kwokctl")), "--name", self.name, *args]
        try:
            subprocess.run(
                command, env=self._env(), capture_output=True, text=True, check=True,
                timeout=timeout,
            )  # fmt: skip
        except subprocess.CalledProcessError as exc:
            raise DevEnvError(
                f"kwokctl {' '.join(args[:2])} for cluster {self.name!r} failed "
                f"({exc.returncode}): {(exc.stderr or exc.stdout).strip()[-1500:]}\n"
                f"component logs: {self.directory / 'logs'}"
            ) from exc
        except subprocess.TimeoutExpired as exc:
            raise DevEnvError(
                f"kwokctl {' '.join(args[:2])} for cluster {self.name!r} took over "
                f"{timeout:.0f} s; component logs: {self.directory / 'logs'}"
            ) from exc

    def write_config(self) -> None:
        """kwokctl's config for this cluster: our binaries and Stages, its addresses."""
        sans: list[str] = []
        if self.net is not None:
            sans = [self.net.host_ip, self.net.node_ip]
        self.kwok_dir.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(
            kwokctl_config(
                self.binaries,
                self.binaries.kube_version(),
                bind_address="0.0.0.0" if self.net is not None else "127.0.0.1",  # noqa: S104
                cert_sans=sans,
                pki_dir=self.pki,
                only_annotated_nodes=self.net is not None,
                advertise_address=self.net.node_ip if self.net is not None else None,
            )
        )

    def create(self) -> None:
        self.write_config()
        self.kwokctl(
            "-c", str(self.config_file), "create", "cluster", "--kubeconfig", "",
            "--wait", "60s", "--timeout", "90s", timeout=120,
        )  # fmt: skip

    def delete(self) -> None:
        """Delete the cluster; processes kwokctl could not stop are stopped by pid."""
        if not self.directory.exists():
            return
        try:
            self.kwokctl("delete", "cluster", timeout=120)
        except DevEnvError:
            procs.terminate([p.pid for p in procs.find(str(self.directory), program_under=True)])

    def start(self, *, timeout: float) -> None:
        """Start the components that are not running (after :meth:`stop_apiserver`)."""
        self.kwokctl("start", "cluster", "--timeout", "3m", timeout=timeout)

    def stop_apiserver(self) -> None:
        """Stop kube-apiserver abruptly, as when a province goes dark; etcd keeps the objects."""
        pid_file = self.directory / "pids" / "kube-apiserver.pid"
        try:
            pid = int(pid_file.read_text().strip())
        except (OSError, ValueError) as exc:
            raise DevEnvError(f"no kube-apiserver pid for cluster {self.name!r}: {exc}") from exc
        procs.terminate([pid], grace_seconds=2)
        pid_file.unlink(missing_ok=True)  # kwokctl starts only components without a live pid

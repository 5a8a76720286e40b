"""The local fleet: named clusters of real control planes, started with ``kwokctl``.

A :class:`Fleet` lives in a working directory: ``kwokctl.yaml`` (our config and Stages),
``kwok/clusters/<name>/`` (kwokctl's per-cluster state: kubeconfig, pki, logs, pids) and
``fleet.json`` (what ``gridshift dev down`` needs to find everything again). Clusters start one
after the other, since kwokctl picks ports per cluster and parallel creates can race.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from orchestrator.devenv import procs
from orchestrator.devenv.binaries import Binaries
from orchestrator.devenv.kwok import kwokctl_config
from orchestrator.devenv.nodes import SIM_LABEL, ClusterSpec, node_manifests
from orchestrator.devenv.postgres import LocalPostgres
from orchestrator.errors import DevEnvError

DEFAULT_CLUSTERS = ("shanghai", "hubei", "ningxia")
STATE_FILE = "fleet.json"
FIELD_MANAGER = "gridshift-devenv"

Progress = Callable[[str], None]


def default_cluster_specs(
    names: Sequence[str] = DEFAULT_CLUSTERS,
    *,
    gpu_nodes: int = 2,
    gpus_per_node: int = 8,
    hub: str | None = None,
) -> list[ClusterSpec]:
    """One spec per province, plus an optional hub cluster without GPU nodes."""
    specs = [ClusterSpec(n, gpu_nodes=gpu_nodes, gpus_per_node=gpus_per_node) for n in names]
    if hub is not None:
        specs.append(ClusterSpec(hub, gpu_nodes=0))
    return specs


@dataclass(frozen=True)
class ClusterStatus:
    """What `gridshift dev status` shows for one cluster."""

    name: str
    server: str
    reachable: bool
    ready_nodes: int
    processes: int
    rss_bytes: int


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
    ) -> None:
        self.workdir = workdir.resolve()
        self.binaries = binaries
        self.specs = list(specs)
        self.postgres = postgres

    # -- where things are ------------------------------------------------------------------

    @property
    def kwok_dir(self) -> Path:
        return self.workdir / "kwok"

    def cluster_dir(self, name: str) -> Path:
        return self.kwok_dir / "clusters" / name

    def kubeconfig(self, name: str) -> Path:
        """The admin kubeconfig of cluster ``name`` (client certificate, https://127.0.0.1)."""
        self.spec(name)
        return self.cluster_dir(name) / "kubeconfig.yaml"

    def portable_kubeconfig(self, name: str) -> str:
        """Cluster ``name``'s kubeconfig with its certificates inline, as a Secret holds it."""
        config = yaml.safe_load(self.kubeconfig(name).read_text())
        for section, key in (("clusters", "cluster"), ("users", "user")):
            for entry in config.get(section, []):
                body = entry[key]
                for field in ("certificate-authority", "client-certificate", "client-key"):
                    if field in body:
                        raw = Path(body.pop(field)).read_bytes()
                        body[f"{field}-data"] = base64.b64encode(raw).decode()
        return str(yaml.safe_dump(config, sort_keys=False))

    def kubeconfigs(self) -> dict[str, Path]:
        return {s.name: self.kubeconfig(s.name) for s in self.specs}

    def server(self, name: str) -> str:
        config = yaml.safe_load(self.kubeconfig(name).read_text())
        return str(config["clusters"][0]["cluster"]["server"])

    def spec(self, name: str) -> ClusterSpec:
        for spec in self.specs:
            if spec.name == name:
                return spec
        raise DevEnvError(f"no cluster named {name!r} in the fleet at {self.workdir}")

    # -- running the tools -----------------------------------------------------------------

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            "KWOK_WORKDIR": str(self.kwok_dir),
            "KWOK_RUNTIME": "binary",
            "KWOK_KUBECTL_BINARY": str(self.binaries.path("kubectl")),
            "PATH": f"{self.binaries.directory}{os.pathsep}{os.environ.get('PATH', '')}",
        }

    def _kwokctl(self, name: str, *args: str, timeout: float) -> None:
        command = [str(self.binaries.path("kwokctl")), "--name", name, *args]
        try:
            subprocess.run(
                command,
                env=self._env(),
                capture_output=True,
                text=True,
                check=True,
                timeout=timeout,
            )
        except subprocess.CalledProcessError as exc:
            raise DevEnvError(
                f"kwokctl {' '.join(args[:2])} for cluster {name!r} failed ({exc.returncode}): "
                f"{(exc.stderr or exc.stdout).strip()[-1500:]}\n"
                f"component logs: {self.cluster_dir(name) / 'logs'}"
            ) from exc
        except subprocess.TimeoutExpired as exc:
            raise DevEnvError(
                f"kwokctl {' '.join(args[:2])} for cluster {name!r} took over {timeout:.0f} s; "
                f"component logs: {self.cluster_dir(name) / 'logs'}"
            ) from exc

    def kubectl(self, name: str, *args: str, stdin: str | None = None, timeout: float = 60) -> str:
        """Run the fleet's kubectl against cluster ``name``; return its output."""
        command = [str(self.binaries.path("kubectl")), "--kubeconfig", str(self.kubeconfig(name))]
        try:
            done = subprocess.run(
                [*command, *args],
                input=stdin,
                capture_output=True,
                text=True,
                check=True,
                timeout=timeout,
            )
        except subprocess.CalledProcessError as exc:
            raise DevEnvError(
                f"kubectl {' '.join(args)} on {name!r} failed: {exc.stderr.strip()[-1500:]}"
            ) from exc
        except subprocess.TimeoutExpired as exc:
            raise DevEnvError(f"kubectl {' '.join(args)} on {name!r} timed out") from exc
        return done.stdout

    # -- lifecycle ---------------------------------------------------------------------------

    def up(self, *, progress: Progress = _quiet, with_postgres: bool = False) -> None:
        """Start every cluster (and PostgreSQL if asked); add GPU nodes; wait until Ready.

        Safe to call again: clusters already running are left as they are.
        """
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "kwokctl.yaml"
        config.write_text(kwokctl_config(self.binaries, self.binaries.kube_version()))
        self.save()  # first, so that `down` can clean up after a start that fails half-way
        for spec in self.specs:
            started = time.monotonic()
            progress(f"cluster {spec.name}: starting etcd, kube-apiserver, controllers, kwok")
            self._create(spec, config, progress)
            progress(
                f"cluster {spec.name}: ready in {time.monotonic() - started:.1f} s at "
                f"{self.server(spec.name)} with {spec.gpu_nodes} GPU nodes"
            )
        if with_postgres and self.postgres is None:
            progress("postgresql: starting")
            self.postgres = LocalPostgres.create()
            self.save()
            self.postgres.start()
            progress(f"postgresql: ready on 127.0.0.1:{self.postgres.port}")
        self.save()

    def _create(
        self, spec: ClusterSpec, config: Path, progress: Progress, attempts: int = 3
    ) -> None:
        """Create one cluster with its GPU nodes Ready; a start that fails (a port taken
        between kwokctl choosing it and a component binding it, say, which leaves the nodes
        never Ready) is deleted and tried again."""
        name = spec.name
        for attempt in range(1, attempts + 1):
            try:
                self._kwokctl(
                    name,
                    "-c",
                    str(config),
                    "create",
                    "cluster",
                    "--kubeconfig",
                    "",
                    "--wait",
                    "60s",
                    "--timeout",
                    "90s",
                    timeout=120,
                )
                self._add_nodes(spec)
                return
            except DevEnvError as exc:
                if attempt == attempts:
                    raise
                progress(f"cluster {name}: start failed ({exc}); deleting it and trying again")
                try:
                    self._kwokctl(name, "delete", "cluster", timeout=120)
                except DevEnvError:
                    procs.terminate(
                        [p.pid for p in procs.find(str(self.cluster_dir(name)), program_under=True)]
                    )

    def _add_nodes(self, spec: ClusterSpec) -> None:
        if spec.gpu_nodes == 0:
            return
        manifest = yaml.safe_dump_all(node_manifests(spec))
        self.kubectl(
            spec.name,
            "apply",
            "--server-side",
            f"--field-manager={FIELD_MANAGER}",
            "-f",
            "-",
            stdin=manifest,
        )
        self.kubectl(
            spec.name,
            "wait",
            "--for=condition=Ready",
            "node",
            "-l",
            SIM_LABEL,
            "--timeout=120s",  # KWOK marks them Ready at once; a loaded machine needs the slack
            timeout=150,
        )

    def down(self, *, progress: Progress = _quiet) -> None:
        """Delete every cluster and stop PostgreSQL; leave no process of the fleet running."""
        for spec in self.specs:
            if self.cluster_dir(spec.name).exists():
                progress(f"cluster {spec.name}: deleting")
                try:
                    self._kwokctl(spec.name, "delete", "cluster", timeout=120)
                except DevEnvError as exc:
                    progress(f"cluster {spec.name}: kwokctl delete failed, stopping by pid ({exc})")
        leftovers = procs.find(str(self.workdir), program_under=True)
        if leftovers:
            progress(f"stopping {len(leftovers)} leftover processes")
            procs.terminate([p.pid for p in leftovers])
        if self.postgres is not None:
            progress("postgresql: stopping")
            self.postgres.stop()
            self.postgres = None
        shutil.rmtree(self.workdir, ignore_errors=True)

    # -- a province going dark ---------------------------------------------------------------

    def _apiserver_pid_file(self, name: str) -> Path:
        return self.cluster_dir(name) / "pids" / "kube-apiserver.pid"

    def stop_apiserver(self, name: str) -> None:
        """Stop cluster ``name``'s kube-apiserver abruptly, as when a province goes dark.

        Its etcd keeps the objects. The controller manager and scheduler may exit as well once
        they lose their leases; `start_apiserver` starts whatever is not running.
        """
        pid_file = self._apiserver_pid_file(name)
        try:
            pid = int(pid_file.read_text().strip())
        except (OSError, ValueError) as exc:
            raise DevEnvError(f"no kube-apiserver pid for cluster {name!r}: {exc}") from exc
        procs.terminate([pid], grace_seconds=2)
        # kwokctl starts only components whose pid file names a live process
        pid_file.unlink(missing_ok=True)

    def start_apiserver(self, name: str, *, timeout_seconds: float = 120) -> None:
        """Start cluster ``name``'s stopped components again and wait until it is ready."""
        deadline = time.monotonic() + timeout_seconds
        self._kwokctl(name, "start", "cluster", "--timeout", "3m", timeout=timeout_seconds)
        while not self.reachable(name):
            if time.monotonic() > deadline:
                raise DevEnvError(
                    f"kube-apiserver of {name!r} not ready after {timeout_seconds:.0f} s; "
                    f"see {self.cluster_dir(name) / 'logs' / 'kube-apiserver.log'}"
                )
            time.sleep(0.5)

    # -- looking at it ---------------------------------------------------------------------

    def processes(self) -> list[procs.Process]:
        """Live processes of the fleet: control planes, kwok and PostgreSQL."""
        found = procs.find(str(self.workdir), program_under=True)
        if self.postgres is not None:
            found += procs.find(str(self.postgres.data_dir))
        return found

    def reachable(self, name: str, *, timeout_seconds: float = 5) -> bool:
        """Whether cluster ``name``'s API server answers /readyz."""
        try:
            self.kubectl(
                name,
                "get",
                "--raw",
                "/readyz",
                f"--request-timeout={timeout_seconds}s",
                timeout=timeout_seconds + 5,
            )
        except DevEnvError:
            return False
        return True

    def status(self) -> list[ClusterStatus]:
        result = []
        for spec in self.specs:
            mine = procs.find(str(self.cluster_dir(spec.name)), program_under=True)
            reachable = self.reachable(spec.name) if self.kubeconfig(spec.name).exists() else False
            ready = 0
            if reachable:
                out = self.kubectl(
                    spec.name,
                    "get",
                    "nodes",
                    "-o",
                    "jsonpath={range .items[*]}{.status.conditions[?(@.type=='Ready')].status}"
                    "{'\\n'}{end}",
                )
                ready = out.split().count("True")
            server = self.server(spec.name) if self.kubeconfig(spec.name).exists() else "-"
            result.append(
                ClusterStatus(
                    spec.name, server, reachable, ready, len(mine), sum(p.rss_bytes for p in mine)
                )
            )
        return result

    # -- state ---------------------------------------------------------------------------------

    def save(self) -> None:
        state = {
            "binaries": str(self.binaries.directory),
            "clusters": [asdict(s) for s in self.specs],
            "postgres": self.postgres.to_state() if self.postgres else None,
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
        )

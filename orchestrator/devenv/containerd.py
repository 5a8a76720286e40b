"""A real node's container runtime: its own containerd (and runc), with CNI bridge networking.

One containerd per real node, with its own root, state and socket under the node's directory,
so the clusters never see each other's containers. Debian's ``containerd`` and ``runc`` and the
CNI plugins of ``containernetworking-plugins`` (``/usr/lib/cni``) are used as they are; the
settings below are the ones that mattered on a VM without systemd (see the README's local fleet
section): ``restrict_oom_score_adj`` (the VM refuses an OOM score of -998), cgroupfs rather
than the systemd driver, overlayfs, and a local pause image since there is no registry.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

from orchestrator.devenv.netns import ProvinceNet
from orchestrator.errors import DevEnvError

CNI_BIN_DIR = Path("/usr/lib/cni")
K8S_NAMESPACE = "k8s.io"
START_TIMEOUT_SECONDS = 30.0


def _toml_str(value: str | Path) -> str:
    return json.dumps(str(value))


class NodeRuntime:
    """containerd of one real node, living in ``directory`` and the node's network namespace."""

    def __init__(self, directory: Path, net: ProvinceNet) -> None:
        self.directory = directory
        self.net = net

    @property
    def socket(self) -> Path:
        return self.directory / "containerd.sock"

    @property
    def endpoint(self) -> str:
        return f"unix://{self.socket}"

    @property
    def config_file(self) -> Path:
        return self.directory / "containerd.toml"

    @property
    def cni_conf_dir(self) -> Path:
        return self.directory / "cni"

    @property
    def log_file(self) -> Path:
        return self.directory / "containerd.log"

    def config(self, *, sandbox_image: str) -> str:
        """containerd 1.6's config (version 2); ``sandbox_image`` is the local pause image."""
        cri = 'plugins."io.containerd.grpc.v1.cri"'
        return "\n".join(
            [
                "version = 2",
                f"root = {_toml_str(self.directory / 'root')}",
                f"state = {_toml_str(self.directory / 'state')}",
                "disabled_plugins = ["
                + ", ".join(
                    json.dumps(f"io.containerd.snapshotter.v1.{name}")
                    for name in ("btrfs", "zfs", "aufs", "devmapper")
                )
                + ', "io.containerd.internal.v1.tracing"]',
                "[grpc]",
                f"  address = {_toml_str(self.socket)}",
                "[ttrpc]",
                '  address = ""',
                f"[{cri}]",
                f"  sandbox_image = {json.dumps(sandbox_image)}",
                "  netns_mounts_under_state_dir = true",
                "  restrict_oom_score_adj = true",
                '  stream_server_address = "127.0.0.1"',
                f"[{cri}.containerd]",
                '  snapshotter = "overlayfs"',
                '  default_runtime_name = "runc"',
                f"[{cri}.containerd.runtimes.runc]",
                '  runtime_type = "io.containerd.runc.v2"',
                f"[{cri}.containerd.runtimes.runc.options]",
                "  SystemdCgroup = false",
                # runc's own state per node: container ids never meet another node's
                f"  Root = {_toml_str(self.directory / 'runc')}",
                f"[{cri}.cni]",
                f"  bin_dir = {_toml_str(CNI_BIN_DIR)}",
                f"  conf_dir = {_toml_str(self.cni_conf_dir)}",
                "",
            ]
        )

    def cni_config(self) -> dict[str, object]:
        """A bridge with host-local addresses from the province's pod subnet, masqueraded."""
        return {
            "cniVersion": "1.0.0",
            "name": "gridshift",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": "cni0",
                    "isGateway": True,
                    "ipMasq": True,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": self.net.pod_subnet}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                        "dataDir": str(self.directory / "ipam"),
                    },
                },
                {"type": "portmap", "capabilities": {"portMappings": True}},
                {"type": "loopback"},
            ],
        }

    def start(self, *, sandbox_image: str) -> None:
        """Start containerd in the node's namespace unless it answers already."""
        for tool in ("containerd", "ctr", "runc", "nsenter"):
            if shutil.which(tool) is None:
                raise DevEnvError(
                    f"{tool} is not installed: run hack/install-deps.sh (Debian packages "
                    "containerd, runc, containernetworking-plugins, util-linux)"
                )
        if not (CNI_BIN_DIR / "bridge").is_file():
            raise DevEnvError(
                f"no CNI bridge plugin in {CNI_BIN_DIR}: run hack/install-deps.sh "
                "(Debian package containernetworking-plugins)"
            )
        if self.answers():
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        self.cni_conf_dir.mkdir(exist_ok=True)
        self.config_file.write_text(self.config(sandbox_image=sandbox_image))
        (self.cni_conf_dir / "10-gridshift.conflist").write_text(json.dumps(self.cni_config()))
        with self.log_file.open("ab") as log:
            subprocess.Popen(
                [*self.net.exec_prefix(), "containerd", "--config", str(self.config_file)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self.answers():
            if time.monotonic() > deadline:
                raise DevEnvError(
                    f"containerd of {self.net.cluster!r} did not answer within "
                    f"{START_TIMEOUT_SECONDS:.0f} s; see {self.log_file}"
                )
            time.sleep(0.2)

    def ctr(self, *args: str, timeout: float = 120) -> str:
        """Run ``ctr`` against this containerd (namespace k8s.io); its output."""
        command = ["ctr", "--address", str(self.socket), "--namespace", K8S_NAMESPACE, *args]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, check=True, timeout=timeout
            )
        except subprocess.CalledProcessError as exc:
            raise DevEnvError(
                f"ctr {' '.join(args[:3])} on {self.net.cluster!r} failed: "
                f"{(exc.stderr or exc.stdout).strip()[-1000:]}"
            ) from exc
        except (OSError, subprocess.SubprocessError) as exc:
            raise DevEnvError(f"could not run ctr on {self.net.cluster!r}: {exc}") from exc
        return done.stdout

    def answers(self) -> bool:
        if not self.socket.exists():
            return False
        try:
            self.ctr("version", timeout=5)
        except DevEnvError:
            return False
        return True

    def images(self) -> set[str]:
        return {line.strip() for line in self.ctr("images", "list", "-q").splitlines()}

    def import_image(self, archive: Path, ref: str) -> None:
        """Load an OCI archive whose tag is ``ref``'s (``localhost/NAME:TAG``), once.

        ``ctr`` names an OCI archive's image ``<base name>:<its ref.name annotation>``.
        """
        if ref in self.images():
            return
        base = ref.rsplit(":", 1)[0]
        self.ctr("images", "import", "--base-name", base, str(archive))
        if ref not in self.images():
            raise DevEnvError(
                f"{archive} was imported into {self.net.cluster!r} but {ref!r} is not listed"
            )

    def kill_containers(self) -> None:
        """SIGKILL every task this containerd runs (pods and their sandboxes)."""
        if not self.answers():
            return
        for line in self.ctr("tasks", "list", "-q").splitlines():
            task = line.strip()
            if task:
                subprocess.run(
                    ["ctr", "--address", str(self.socket), "--namespace", K8S_NAMESPACE,
                     "tasks", "kill", "--signal", "SIGKILL", task],
                    capture_output=True, check=False, timeout=30,
                )  # fmt: skip

"""A real node's agents: kubelet (pods) and kube-proxy (Services), in the node's namespace.

Both are built from ``k8s.io/kubernetes`` at the fleet's pinned version by
``hack/build-k8s-binaries.sh``. The kubelet talks CRI v1 to the node's own containerd, uses the
cgroupfs driver under a cgroup root of its own (several kubelets share the machine's cgroup
hierarchies), keeps every image (there is no registry to pull them again) and registers with
the taint :data:`REAL_NODE_TAINT`, so that only workloads meant for real pods (which tolerate
it) land there, and the KWOK nodes keep the rest. kube-proxy programs iptables inside the
namespace only; it never touches the host's conntrack sysctls.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import yaml

from orchestrator.devenv.binaries import Binaries
from orchestrator.devenv.netns import ProvinceNet
from orchestrator.errors import DevEnvError

REAL_NODE_LABEL = "node.gridshift.io/real"
REAL_NODE_TAINT = "node.gridshift.io/real"
CGROUP_ROOT = Path("/sys/fs/cgroup")


def cgroup_root_name(net: ProvinceNet) -> str:
    return f"gridshift{net.fleet_index}-{net.cluster}"


def cgroup_dirs(name: str) -> list[Path]:
    """Where the cgroup ``/name`` lives: one directory per v1 hierarchy, or the v2 one."""
    if (CGROUP_ROOT / "cgroup.controllers").exists():
        return [CGROUP_ROOT / name]
    return [
        entry / name
        for entry in sorted(CGROUP_ROOT.iterdir())
        if entry.is_dir() and not entry.is_symlink() and entry.name != "unified"
    ]


def _spawn(command: list[str], log_file: Path) -> None:
    with log_file.open("ab") as log:
        subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )


class NodeAgents:
    """The kubelet and kube-proxy of one real node."""

    def __init__(
        self,
        directory: Path,
        net: ProvinceNet,
        binaries: Binaries,
        *,
        node_name: str,
        kubeconfig: Path,
        client_ca: Path,
        runtime_endpoint: str,
    ) -> None:
        self.directory = directory
        self.net = net
        self.binaries = binaries
        self.node_name = node_name
        self.kubeconfig = kubeconfig
        self.client_ca = client_ca
        self.runtime_endpoint = runtime_endpoint

    @property
    def kubelet_log(self) -> Path:
        return self.directory / "kubelet.log"

    @property
    def proxy_log(self) -> Path:
        return self.directory / "kube-proxy.log"

    def kubelet_config(self) -> dict[str, object]:
        return {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "failCgroupV1": False,
            "cgroupDriver": "cgroupfs",
            "cgroupRoot": f"/{cgroup_root_name(self.net)}",
            "cgroupsPerQOS": True,
            "enforceNodeAllocatable": [],
            "failSwapOn": False,
            "containerRuntimeEndpoint": self.runtime_endpoint,
            "address": self.net.node_ip,
            "port": 10250,
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": 10248,
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": True},
                "x509": {"clientCAFile": str(self.client_ca)},
            },
            "authorization": {"mode": "Webhook"},
            "resolvConf": "",
            # every kubelet removes the log directories of pods it does not know: one each
            "podLogsDir": str(self.directory / "pod-logs"),
            # no registry: an image collected here could never be pulled again
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "evictionHard": {
                "memory.available": "100Mi",
                "nodefs.available": "1%",
                "imagefs.available": "1%",
                "nodefs.inodesFree": "1%",
            },
            "serializeImagePulls": False,
            "maxPods": 110,
            "registerWithTaints": [
                {"key": REAL_NODE_TAINT, "value": "true", "effect": "NoSchedule"}
            ],
            "shutdownGracePeriod": "0s",
        }

    def proxy_config(self) -> dict[str, object]:
        return {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
            "kind": "KubeProxyConfiguration",
            "mode": "iptables",
            "clientConnection": {"kubeconfig": str(self.kubeconfig)},
            "hostnameOverride": self.node_name,
            "clusterCIDR": self.net.pod_subnet,
            "bindAddress": self.net.node_ip,
            "metricsBindAddress": "127.0.0.1:10249",
            "healthzBindAddress": "127.0.0.1:10256",
            "conntrack": {"maxPerCore": 0, "min": 0},  # leave the host's conntrack table alone
            "iptables": {"localhostNodePorts": False},
        }

    def make_cgroup_root(self) -> None:
        for directory in cgroup_dirs(cgroup_root_name(self.net)):
            directory.mkdir(parents=True, exist_ok=True)

    def start(self, *, labels: dict[str, str]) -> None:
        """Start the kubelet and kube-proxy in the node's namespace (once)."""
        for name in ("kubelet", "kube-proxy"):
            if not self.binaries.path(name).is_file():
                raise DevEnvError(
                    f"{name} is not in {self.binaries.directory}: run "
                    "hack/build-k8s-binaries.sh (it builds kubelet and kube-proxy too)"
                )
        self.directory.mkdir(parents=True, exist_ok=True)
        self.make_cgroup_root()
        kubelet_config = self.directory / "kubelet.yaml"
        kubelet_config.write_text(yaml.safe_dump(self.kubelet_config(), sort_keys=False))
        proxy_config = self.directory / "kube-proxy.yaml"
        proxy_config.write_text(yaml.safe_dump(self.proxy_config(), sort_keys=False))
        node_labels = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        _spawn(
            [
                *self.net.exec_prefix(),
                str(self.binaries.path("kubelet")),
                "--config",
                str(kubelet_config),
                "--kubeconfig",
                str(self.kubeconfig),
                "--root-dir",
                str(self.directory / "kubelet"),
                "--cert-dir",
                str(self.directory / "kubelet-pki"),
                "--hostname-override",
                self.node_name,
                "--node-ip",
                self.net.node_ip,
                "--node-labels",
                node_labels,
            ],
            self.kubelet_log,
        )
        _spawn(
            [
                *self.net.exec_prefix(),
                str(self.binaries.path("kube-proxy")),
                "--config",
                str(proxy_config),
            ],
            self.proxy_log,
        )

    def remove_cgroups(self) -> None:
        """Kill what is left in the node's cgroups (pods whose shims died) and remove them."""
        for directory in cgroup_dirs(cgroup_root_name(self.net)):
            remove_cgroup(directory)


def remove_cgroup(directory: Path) -> None:
    """SIGKILL every process in the cgroup ``directory`` and below, then remove the cgroups
    deepest first (a cgroup directory is removed with rmdir, control files and all)."""
    if not directory.is_dir():
        return
    for procs in directory.rglob("cgroup.procs"):
        try:
            pids = [int(line) for line in procs.read_text().split()]
        except (OSError, ValueError):
            continue
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
    cgroups = [p for p in directory.rglob("*") if p.is_dir()] + [directory]
    for cgroup in sorted(cgroups, key=lambda p: len(p.parts), reverse=True):
        for _ in range(50):  # killed processes leave their cgroup a moment later
            try:
                cgroup.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.1)

"""A real node in a province: containerd, runc, CNI, kubelet and kube-proxy in its namespace.

Beside the KWOK nodes that stay for scale, a cluster of the local fleet may get one real node
(``ClusterSpec.real_node``), where pods run as real processes, with real IP addresses on the
province's bridge, real readiness probes and real signals. The node advertises
``nvidia.com/gpu`` (patched into its status, as the Kubernetes task "Advertise Extended Resources
for a Node" describes: there is no GPU and no device plugin here), so GPU-requesting pods that
tolerate :data:`~orchestrator.devenv.kubelet.REAL_NODE_TAINT` land there. Images come from
:mod:`orchestrator.devenv.images` and are imported into the node's containerd; pods use
``imagePullPolicy: Never`` since there is no registry.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from orchestrator.devenv import procs
from orchestrator.devenv.binaries import Binaries
from orchestrator.devenv.containerd import NodeRuntime
from orchestrator.devenv.kubectl import Kubectl
from orchestrator.devenv.kubelet import REAL_NODE_LABEL, NodeAgents
from orchestrator.devenv.netns import ProvinceNet
from orchestrator.devenv.nodes import GPU_RESOURCE, ZONE_LABEL
from orchestrator.errors import DevEnvError

READY_TIMEOUT_SECONDS = 120.0


@dataclass(frozen=True)
class Image:
    """An OCI archive to import, and the reference pods name it by."""

    archive: Path
    ref: str


def node_name(cluster: str) -> str:
    return f"{cluster}-node-0"


class RealNode:
    """The real node of one cluster."""

    def __init__(
        self,
        directory: Path,
        net: ProvinceNet,
        binaries: Binaries,
        *,
        kubeconfig: Path,
        client_ca: Path,
        gpus: int,
    ) -> None:
        self.directory = directory
        self.net = net
        self.name = node_name(net.cluster)
        self.gpus = gpus
        self.runtime = NodeRuntime(directory / "containerd", net)
        self.agents = NodeAgents(
            directory,
            net,
            binaries,
            node_name=self.name,
            kubeconfig=kubeconfig,
            client_ca=client_ca,
            runtime_endpoint=self.runtime.endpoint,
        )

    def labels(self) -> dict[str, str]:
        cluster = self.net.cluster
        return {
            REAL_NODE_LABEL: "true",
            ZONE_LABEL: cluster,
            "topology.kubernetes.io/region": cluster,
            "topology.kubernetes.io/zone": f"{cluster}-a",
            "nvidia.com/gpu.present": "true",
        }

    def start(self, kubectl: Kubectl, *, sandbox: Image, images: Sequence[Image]) -> None:
        """Start the runtime (``sandbox`` is its pause image), load the images, start the
        agents, advertise the GPUs and wait until the node is Ready."""
        self.runtime.start(sandbox_image=sandbox.ref)
        for image in (sandbox, *images):
            self.runtime.import_image(image.archive, image.ref)
        if not procs.find(str(self.agents.directory / "kubelet.yaml")):
            self.agents.start(labels=self.labels())
        self._advertise_gpus(kubectl)
        kubectl(
            "wait", "--for=condition=Ready", f"node/{self.name}",
            f"--timeout={int(READY_TIMEOUT_SECONDS)}s", timeout=READY_TIMEOUT_SECONDS + 10,
        )  # fmt: skip

    def _advertise_gpus(self, kubectl: Kubectl) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while True:
            try:
                kubectl("get", "node", self.name, "-o", "name", timeout=10)
                break
            except DevEnvError:
                if time.monotonic() > deadline:
                    raise DevEnvError(
                        f"the kubelet of {self.net.cluster!r} never registered node "
                        f"{self.name}; see {self.agents.kubelet_log}"
                    ) from None
                time.sleep(0.5)
        path = "/status/capacity/" + GPU_RESOURCE.replace("/", "~1")
        kubectl(
            "patch", "node", self.name, "--subresource=status", "--type=json",
            "-p", f'[{{"op": "add", "path": "{path}", "value": "{self.gpus}"}}]',
        )  # fmt: skip

    def stop(self) -> None:
        """Stop pods, agents and runtime; unmount and remove what they left. No process stays."""
        self.runtime.kill_containers()
        marker = str(self.directory)
        procs.terminate([p.pid for p in procs.find(marker)], grace_seconds=5)
        self.agents.remove_cgroups()
        unmount_under(self.directory)


def unmount_under(directory: Path) -> None:
    """Unmount every mount below ``directory`` (pod volumes, overlay root filesystems, shm),
    deepest first, so the directory can be deleted without reaching into a mount."""
    prefix = str(directory.resolve()) + "/"
    for _ in range(3):
        mounts = []
        with contextlib.suppress(OSError):
            for line in Path("/proc/self/mountinfo").read_text().splitlines():
                point = line.split()[4].replace("\\040", " ")
                if point.startswith(prefix):
                    mounts.append(point)
        if not mounts:
            return
        for point in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", "--lazy", point], capture_output=True, check=False)

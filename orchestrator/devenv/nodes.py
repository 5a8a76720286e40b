"""Simulated GPU nodes: Node objects that KWOK keeps Ready, with ``nvidia.com/gpu`` capacity."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from orchestrator.errors import DevEnvError

SIM_LABEL = "sim.gridshift.io/node"
ZONE_LABEL = "gridshift.io/zone"
GPU_RESOURCE = "nvidia.com/gpu"
DEFAULT_CLUSTERS = ("shanghai", "hubei", "ningxia")


@dataclass(frozen=True)
class ClusterSpec:
    """One cluster of the local fleet.

    ``name`` is the province (and grid zone) it stands for; ``gpu_nodes`` simulated nodes each
    offer ``gpus_per_node`` GPUs. A hub cluster (where gridshift itself runs) has no GPU nodes.
    With ``real_node`` the cluster also gets one real node (kubelet, containerd, runc, CNI)
    advertising ``real_gpus`` GPUs, where pods run for real (see realnode.py).
    """

    name: str
    gpu_nodes: int = 2
    gpus_per_node: int = 8
    gpu_product: str = "NVIDIA-H20"
    cpu_per_node: int = 96
    memory_gib_per_node: int = 1024
    real_node: bool = False
    real_gpus: int = 8

    def node_names(self) -> list[str]:
        return [f"{self.name}-gpu-{i}" for i in range(self.gpu_nodes)]


def node_manifests(spec: ClusterSpec) -> list[dict[str, Any]]:
    """The Node objects of one cluster, status included (KWOK keeps the capacity we give)."""
    resources = {
        "cpu": str(spec.cpu_per_node),
        "memory": f"{spec.memory_gib_per_node}Gi",
        "pods": "110",
        GPU_RESOURCE: str(spec.gpus_per_node),
    }
    return [
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "annotations": {"kwok.x-k8s.io/node": "fake"},
                "labels": {
                    "kubernetes.io/hostname": name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    "type": "kwok",
                    SIM_LABEL: "gpu",
                    ZONE_LABEL: spec.name,
                    "topology.kubernetes.io/region": spec.name,
                    "topology.kubernetes.io/zone": f"{spec.name}-a",
                    "nvidia.com/gpu.present": "true",
                    "nvidia.com/gpu.product": spec.gpu_product,
                    "nvidia.com/gpu.count": str(spec.gpus_per_node),
                },
            },
            "status": {"capacity": dict(resources), "allocatable": dict(resources)},
        }
        for name in spec.node_names()
    ]


def default_cluster_specs(
    names: Sequence[str] = DEFAULT_CLUSTERS,
    *,
    gpu_nodes: int = 2,
    gpus_per_node: int = 8,
    hub: str | None = None,
    real_nodes: Sequence[str] = (),
) -> list[ClusterSpec]:
    """One spec per province (``real_nodes`` name those with a real node), plus an optional
    hub cluster without GPU nodes."""
    unknown = set(real_nodes) - set(names)
    if unknown:
        raise DevEnvError(f"--real-nodes names clusters the fleet does not have: {sorted(unknown)}")
    specs = [
        ClusterSpec(n, gpu_nodes=gpu_nodes, gpus_per_node=gpus_per_node, real_node=n in real_nodes)
        for n in names
    ]
    if hub is not None:
        specs.append(ClusterSpec(hub, gpu_nodes=0))
    return specs

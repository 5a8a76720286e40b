"""Simulated GPU nodes: Node objects that KWOK keeps Ready, with ``nvidia.com/gpu`` capacity."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SIM_LABEL = "sim.gridshift.io/node"
ZONE_LABEL = "gridshift.io/zone"
GPU_RESOURCE = "nvidia.com/gpu"


@dataclass(frozen=True)
class ClusterSpec:
    """One cluster of the local fleet.

    ``name`` is the province (and grid zone) it stands for; ``gpu_nodes`` simulated nodes each
    offer ``gpus_per_node`` GPUs. A hub cluster (where gridshift itself runs) has no GPU nodes.
    """

    name: str
    gpu_nodes: int = 2
    gpus_per_node: int = 8
    gpu_product: str = "NVIDIA-H20"
    cpu_per_node: int = 96
    memory_gib_per_node: int = 1024

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

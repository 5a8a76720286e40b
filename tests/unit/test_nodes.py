"""Simulated GPU nodes and the fleet's cluster specs."""

from __future__ import annotations

from orchestrator.devenv import default_cluster_specs
from orchestrator.devenv.nodes import GPU_RESOURCE, ZONE_LABEL, ClusterSpec, node_manifests


def test_nodes_advertise_gpus_and_their_province() -> None:
    nodes = node_manifests(ClusterSpec("hubei", gpu_nodes=3, gpus_per_node=4))
    assert [n["metadata"]["name"] for n in nodes] == ["hubei-gpu-0", "hubei-gpu-1", "hubei-gpu-2"]
    for node in nodes:
        assert node["status"]["capacity"][GPU_RESOURCE] == "4"
        assert node["status"]["allocatable"][GPU_RESOURCE] == "4"
        assert node["metadata"]["labels"][ZONE_LABEL] == "hubei"
        assert node["metadata"]["labels"]["topology.kubernetes.io/region"] == "hubei"


def test_default_fleet_is_three_provinces_and_an_optional_hub() -> None:
    specs = default_cluster_specs()
    assert [s.name for s in specs] == ["shanghai", "hubei", "ningxia"]
    with_hub = default_cluster_specs(hub="hub")
    assert with_hub[-1].name == "hub"
    assert with_hub[-1].gpu_nodes == 0
    assert node_manifests(with_hub[-1]) == []

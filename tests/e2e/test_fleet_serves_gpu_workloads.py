"""Every member cluster schedules GPU model servers for real.

These tests take their clusters from kubeconfigs (GRIDSHIFT_KUBECONFIGS, or the local fleet),
so they run unchanged against kind clusters on a laptop.
"""

from __future__ import annotations

from pathlib import Path

from kube import apps, condition, core, deployment, namespace, pod, wait_for
from kubernetes.utils import create_from_dict

from orchestrator.devenv.nodes import GPU_RESOURCE


def _gpu_nodes(kubeconfig: Path) -> dict[str, int]:
    nodes = core(kubeconfig).list_node().items
    return {
        n.metadata.name: int((n.status.allocatable or {}).get(GPU_RESOURCE, "0"))
        for n in nodes
        if int((n.status.allocatable or {}).get(GPU_RESOURCE, "0")) > 0
    }


def _ready_replicas(kubeconfig: Path, ns: str, name: str) -> int:
    return int(apps(kubeconfig).read_namespaced_deployment(name, ns).status.ready_replicas or 0)


def test_every_cluster_runs_a_gpu_deployment_on_its_gpu_nodes(
    kubeconfigs: dict[str, Path],
) -> None:
    """A Deployment asking for GPUs gets Ready pods, bound only to nodes that have GPUs."""
    assert len(kubeconfigs) >= 3, "the fleet has one cluster per province"
    for name, kubeconfig in kubeconfigs.items():
        _deployment_becomes_ready_on_gpu_nodes(name, kubeconfig)


def _deployment_becomes_ready_on_gpu_nodes(name: str, kubeconfig: Path) -> None:
    gpu_nodes = _gpu_nodes(kubeconfig)
    assert gpu_nodes, f"{name} has no node with {GPU_RESOURCE}"
    with namespace(kubeconfig, "e2e") as ns:
        create_from_dict(
            apps(kubeconfig).api_client, deployment("llm", replicas=3, gpus=2), namespace=ns
        )
        wait_for(
            lambda: _ready_replicas(kubeconfig, ns, "llm") >= 3,
            timeout=90,
            what=f"3 ready replicas in {name}",
        )
        pods = core(kubeconfig).list_namespaced_pod(ns, label_selector="app=model").items
        assert len(pods) == 3
        for p in pods:
            assert p.spec.node_name in gpu_nodes, f"{p.metadata.name} not on a GPU node"
            assert condition(p, "Ready") == "True"


def test_a_pod_asking_for_more_gpus_than_any_node_has_stays_pending(
    kubeconfigs: dict[str, Path],
) -> None:
    """The scheduler honours nvidia.com/gpu: too large a request is unschedulable."""
    name, kubeconfig = next(iter(kubeconfigs.items()))
    too_many = max(_gpu_nodes(kubeconfig).values()) + 1
    with namespace(kubeconfig, "e2e") as ns:
        api = core(kubeconfig)
        create_from_dict(api.api_client, pod("huge", gpus=too_many), namespace=ns)
        scheduled = wait_for(
            lambda: condition(api.read_namespaced_pod("huge", ns), "PodScheduled"),
            timeout=60,
            what=f"the scheduler's verdict on a {too_many}-GPU pod in {name}",
        )
        assert scheduled == "False"
        found = api.read_namespaced_pod("huge", ns)
        assert found.status.phase == "Pending"
        assert found.spec.node_name is None
        reasons = [c.reason for c in found.status.conditions if c.type == "PodScheduled"]
        assert reasons == ["Unschedulable"]
        message = next(c.message for c in found.status.conditions if c.type == "PodScheduled")
        assert "Insufficient nvidia.com/gpu" in message

"""A province going dark: one cluster's API server stops and comes back."""

from __future__ import annotations

from kube import core, namespace, wait_for
from kubernetes import client
from kubernetes.client.rest import ApiException
from urllib3.exceptions import HTTPError

from orchestrator.devenv import Fleet


def _answers(fleet: Fleet, name: str) -> bool:
    api = core(fleet.kubeconfig(name))
    try:
        api.list_namespace(limit=1, _request_timeout=3)
    except (ApiException, HTTPError, OSError):
        return False
    return True


def test_stopped_api_server_is_unreachable_while_others_serve_and_returns_intact(
    fleet: Fleet,
) -> None:
    kubeconfig = fleet.kubeconfig("hubei")
    with namespace(kubeconfig, "outage") as ns:
        core(kubeconfig).create_namespaced_config_map(
            ns,
            client.V1ConfigMap(
                metadata=client.V1ObjectMeta(name="dispatch"), data={"order": "shed 500 kW"}
            ),
        )
        fleet.stop_apiserver("hubei")
        try:
            assert not _answers(fleet, "hubei")
            assert not fleet.reachable("hubei")
            assert _answers(fleet, "shanghai")
            assert _answers(fleet, "ningxia")
        finally:
            fleet.start_apiserver("hubei")
        assert wait_for(lambda: _answers(fleet, "hubei"), timeout=60, what="hubei to answer")
        kept = core(kubeconfig).read_namespaced_config_map("dispatch", ns)
        assert kept.data == {"order": "shed 500 kW"}
        nodes = core(kubeconfig).list_node(label_selector="sim.gridshift.io/node=gpu").items
        assert len(nodes) == fleet.spec("hubei").gpu_nodes

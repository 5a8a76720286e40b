"""KWOK stages simulate a model server loading its weights (or failing to)."""

from __future__ import annotations

import time

from kube import condition, core, namespace, pod, wait_for
from kubernetes.utils import create_from_dict

from orchestrator.devenv import Fleet

READY_AFTER = 8.0


def test_ready_after_annotation_keeps_a_running_pod_unready_for_that_long(fleet: Fleet) -> None:
    """Annotated ready-after "8s": Running at once, not Ready before 8 s, Ready soon after."""
    kubeconfig = fleet.kubeconfig("hubei")
    api = core(kubeconfig)
    with namespace(kubeconfig) as ns:
        create_from_dict(
            api.api_client,
            pod("loader", annotations={"sim.gridshift.io/ready-after": f"{READY_AFTER:.0f}s"}),
            namespace=ns,
        )
        created = time.monotonic()
        wait_for(
            lambda: api.read_namespaced_pod("loader", ns).status.phase == "Running",
            timeout=30,
            what="the pod to be Running",
        )
        running_at = time.monotonic() - created
        # sample until just before the annotated time: never Ready
        while time.monotonic() - created < READY_AFTER - 1.5:
            assert condition(api.read_namespaced_pod("loader", ns), "Ready") == "False"
            time.sleep(0.5)
        wait_for(
            lambda: condition(api.read_namespaced_pod("loader", ns), "Ready") == "True",
            timeout=READY_AFTER + 20,
            what="the pod to turn Ready",
        )
        ready_at = time.monotonic() - created
    assert running_at < READY_AFTER - 2, f"Running only after {running_at:.1f} s"
    assert ready_at >= READY_AFTER - 0.5, f"Ready after {ready_at:.1f} s, before {READY_AFTER} s"
    assert ready_at <= READY_AFTER + 10, f"Ready only after {ready_at:.1f} s"


def test_never_ready_annotation_keeps_a_pod_unready(fleet: Fleet) -> None:
    """A model that never loads: Running forever, never Ready, while a plain pod turns Ready."""
    kubeconfig = fleet.kubeconfig("ningxia")
    api = core(kubeconfig)
    with namespace(kubeconfig) as ns:
        create_from_dict(
            api.api_client,
            pod("broken", annotations={"sim.gridshift.io/never-ready": "true"}),
            namespace=ns,
        )
        create_from_dict(
            api.api_client,
            pod("healthy", annotations={"sim.gridshift.io/ready-after": "3s"}),
            namespace=ns,
        )
        wait_for(
            lambda: condition(api.read_namespaced_pod("healthy", ns), "Ready") == "True",
            timeout=30,
            what="the plain pod to turn Ready",
        )
        time.sleep(2)  # the broken pod has had as long as the healthy one, and then some
        broken = api.read_namespaced_pod("broken", ns)
        assert broken.status.phase == "Running"
        assert condition(broken, "Ready") == "False"
        assert condition(broken, "ContainersReady") == "False"

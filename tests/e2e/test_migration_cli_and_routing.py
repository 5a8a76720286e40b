"""Moves driven from the command line, one move per workload, and traffic on a real HTTPRoute."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import threading
from typing import Any

from conftest import (
    MOVES,
    Stage,
    create_migration,
    create_workload,
    wait_ended,
    wait_placed,
    workload,
)
from kubernetes import client, watch
from operator_process import GRIDSHIFT, HUB
from urllib3.exceptions import ProtocolError

from orchestrator.devenv.gateway import install_gateway_api


def _delete_workload(stage: Stage, name: str) -> None:
    stage.objects.delete_namespaced_custom_object(
        "gridshift.io", "v1alpha1", MOVES, "inferenceworkloads", name
    )


def test_gridshift_migrate_wait_follows_the_move_to_its_end(stage: Stage) -> None:
    """`gridshift migrate NS/W --to C --wait` prints each phase and exits 0 when Completed."""
    create_workload(stage, workload("cli-move", home="hubei", ready_after="3s"))
    wait_placed(stage, "cli-move", "hubei", 2)
    done = subprocess.run(
        [str(GRIDSHIFT), "migrate", f"{MOVES}/cli-move", "--to", "ningxia", "--wait",
         "--kubeconfig", str(stage.fleet.kubeconfig(HUB))],
        capture_output=True, text=True, timeout=240, env=dict(os.environ), check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    for phase in ("Preflight", "WarmingUp", "ShiftingTraffic", "Completed"):
        assert phase in done.stdout
    assert "deadline met: True" in done.stdout
    _delete_workload(stage, "cli-move")


def test_gridshift_migrate_to_where_it_runs_is_refused(stage: Stage) -> None:
    create_workload(stage, workload("cli-here", home="hubei", ready_after=None))
    wait_placed(stage, "cli-here", "hubei", 2)
    done = subprocess.run(
        [str(GRIDSHIFT), "migrate", f"{MOVES}/cli-here", "--to", "hubei",
         "--kubeconfig", str(stage.fleet.kubeconfig(HUB))],
        capture_output=True, text=True, timeout=60, env=dict(os.environ), check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert "already runs in hubei" in done.stderr
    _delete_workload(stage, "cli-here")


def test_a_second_move_of_a_moving_workload_is_refused(stage: Stage) -> None:
    """At most one active Migration per workload: the second ends Failed and says why."""
    create_workload(stage, workload("twice", home="shanghai", ready_after="15s"))
    wait_placed(stage, "twice", "shanghai", 2, timeout=60)
    create_migration(stage, "twice-a", "twice", source="shanghai", target="hubei")
    wait_for_phase(stage, "twice-a", "WarmingUp")
    create_migration(stage, "twice-b", "twice", source="shanghai", target="ningxia")
    second = wait_ended(stage, "twice-b", timeout=60)["status"]
    assert second["phase"] == "Failed"
    assert "AnotherMigrationActive" in str(second["conditions"])
    assert "twice-a" in second["message"]
    first = wait_ended(stage, "twice-a", timeout=120)["status"]
    assert first["phase"] == "Completed"
    _delete_workload(stage, "twice")


def wait_for_phase(stage: Stage, name: str, phase: str) -> None:
    from kube import wait_for

    wait_for(
        lambda: (
            (stage.hub.get("migrations", name, MOVES) or {}).get("status", {}).get("phase") == phase
        ),
        timeout=60,
        what=f"{name} in {phase}",
    )


def _member_traffic(stage: Stage, cluster: str) -> dict[str, Any]:
    found: Any = stage.objects.get_cluster_custom_object(
        "gridshift.io", "v1alpha1", "memberclusters", cluster
    )
    return dict(found["spec"].get("traffic") or {})


def _set_member_traffic(stage: Stage, cluster: str, traffic: dict[str, Any]) -> None:
    """Replace the member's spec.traffic (keys it had and ``traffic`` lacks are removed)."""
    patch = {key: None for key in ("router", "backendRef", "ingress")} | traffic
    stage.objects.patch_cluster_custom_object(
        "gridshift.io", "v1alpha1", "memberclusters", cluster, {"spec": {"traffic": patch}}
    )


def _user_backend(stage: Stage, name: str, address: str, port: int) -> None:
    """A backend the user manages at the edge: a selector-less Service and its EndpointSlice,
    without gridshift's label."""
    documents = [
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": MOVES},
         "spec": {"ports": [{"name": "http", "port": port, "targetPort": port}]}},
        {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
         "metadata": {"name": name, "namespace": MOVES,
                      "labels": {"kubernetes.io/service-name": name}},
         "addressType": "IPv4", "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
         "endpoints": [{"addresses": [address], "conditions": {"ready": True}}]},
    ]  # fmt: skip
    stage.fleet.kubectl(HUB, "apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1",
                        "kind": "List", "items": documents}))  # fmt: skip


def test_user_backends_get_the_weight_steps_at_the_edge(stage: Stage) -> None:
    """Members that lend their own backends (``traffic.backendRef``): the edge route's weights
    pass 10 -> 50 -> 100 on the target, seen by a watch, each step confirmed by the edge's data
    plane; the user's backends are left as they were."""
    install_gateway_api(stage.fleet.kubectl_on(HUB), HUB)
    registered = {c: _member_traffic(stage, c) for c in ("shanghai", "ningxia")}
    for cluster, traffic in registered.items():
        ingress = traffic.get("ingress") or {}
        _user_backend(stage, f"lent-{cluster}", ingress.get("address", "10.250.0.1"), 8000)
        _set_member_traffic(stage, cluster, {"router": "GatewayAPI", "backendRef": {
            "name": f"lent-{cluster}", "namespace": MOVES, "port": 8000}})  # fmt: skip
    body = workload("routed", home="shanghai", ready_after="2s")
    body["spec"]["traffic"] = {"hostnames": ["routed.moves.gridshift.test"]}
    objects = client.CustomObjectsApi(stage.hub.api)
    seen: list[dict[str, int]] = []
    stop = threading.Event()

    def record() -> None:
        stream = watch.Watch()
        with contextlib.suppress(ProtocolError):  # the fleet goes away under an idle watch
            _record(stream)

    def _record(stream: watch.Watch) -> None:
        for event in stream.stream(
            objects.list_namespaced_custom_object, "gateway.networking.k8s.io", "v1", MOVES,
            "httproutes", field_selector="metadata.name=routed", timeout_seconds=180,
        ):  # fmt: skip
            refs = event["object"]["spec"]["rules"][0]["backendRefs"]
            weights = {r["name"]: r.get("weight", 1) for r in refs}
            if not seen or seen[-1] != weights:
                seen.append(weights)
            if stop.is_set():
                stream.stop()

    try:
        create_workload(stage, body)
        wait_placed(stage, "routed", "shanghai", 2)
        watcher = threading.Thread(target=record, daemon=True)
        watcher.start()
        create_migration(stage, "routed-move", "routed", source="shanghai", target="ningxia")
        ended = wait_ended(stage, "routed-move", timeout=180)["status"]
    finally:
        stop.set()
        for cluster, traffic in registered.items():
            _set_member_traffic(stage, cluster, traffic)
    assert ended["phase"] == "Completed", ended.get("message")
    moved = [w for w in seen if w.get("lent-ningxia", 0) > 0]
    assert [w["lent-ningxia"] for w in moved] == [10, 50, 100], seen
    assert moved[-1].get("lent-shanghai", 0) == 0
    for cluster in registered:  # the user's backends are theirs: untouched by the move
        labels = json.loads(
            stage.fleet.kubectl(HUB, "get", "service", "-n", MOVES, f"lent-{cluster}", "-o", "json")
        )["metadata"]
        assert "gridshift.io/managed" not in (labels.get("labels") or {})
    _delete_workload(stage, "routed")

"""The end-to-end stage: the gridshift API in the hub, members registered, the operator running."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kube import core, wait_for
from kubernetes import client
from operator_process import HUB, Operator, install_api, register_members

from orchestrator.api.common import API_VERSION, GROUP, VERSION
from orchestrator.clusters.hub import HubClient
from orchestrator.clusters.kube import client_from_file
from orchestrator.devenv import Fleet
from orchestrator.devenv.hub import operator_env
from orchestrator.ledger.schema import upgrade_to_head

MOVES = "moves"


@dataclass
class Stage:
    """Everything an end-to-end test drives."""

    fleet: Fleet
    operator: Operator
    hub: HubClient
    database_url: str

    @property
    def objects(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.hub.api)


@pytest.fixture(scope="session")
def stage(fleet: Fleet, database_url: str) -> Iterator[Stage]:
    install_api(fleet)
    register_members(fleet, [s.name for s in fleet.specs])
    upgrade_to_head(database_url)
    api = core(fleet.kubeconfig(HUB))
    try:
        api.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=MOVES)))
    except client.ApiException as exc:
        if exc.status != 409:
            raise
    logs = Path(tempfile.mkdtemp(prefix="gridshift-operator-logs-"))
    operator = Operator(fleet.kubeconfig(HUB), database_url, logs, env=operator_env(fleet))
    operator.start()
    try:
        hub = HubClient(client_from_file(fleet.kubeconfig(HUB)))
        wait_for(
            lambda: all(
                (hub.get("memberclusters", s.name) or {}).get("status", {}).get("freeGPUs")
                for s in fleet.specs
            ),
            timeout=60,
            what="every MemberCluster probed by the operator",
        )
        yield Stage(fleet, operator, hub, database_url)
    finally:
        operator.stop()  # also when the operator never got ready: leave no process behind


def workload(
    name: str,
    *,
    home: str,
    replicas: int = 2,
    gpus: int = 1,
    ready_after: str | None = "20s",
    never_ready: bool = False,
    drain_seconds: int = 0,
    deadline_seconds: int = 180,
    release: str = "ScaleToZero",
    namespace: str = MOVES,
) -> dict[str, Any]:
    annotations = {}
    if ready_after:
        annotations["sim.gridshift.io/ready-after"] = ready_after
    if never_ready:
        annotations["sim.gridshift.io/never-ready"] = "true"
    return {
        "apiVersion": API_VERSION,
        "kind": "InferenceWorkload",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "template": {
                "replicas": replicas,
                "template": {
                    "metadata": {"annotations": annotations},
                    "spec": {
                        "containers": [
                            {
                                "name": "server",
                                "image": "registry.invalid/model:1",
                                "resources": {
                                    "requests": {"nvidia.com/gpu": str(gpus)},
                                    "limits": {"nvidia.com/gpu": str(gpus)},
                                },
                            }
                        ]
                    },
                },
            },
            "servicePorts": [{"name": "http", "port": 8000, "targetPort": 8000}],
            "power": {"gpusPerReplica": gpus, "wattsPerGPU": 700},
            "placement": {"homeCluster": home},
            "migration": {
                "deadlineSeconds": deadline_seconds,
                "drainSeconds": drain_seconds,
                "release": release,
            },
        },
    }


def create_workload(stage: Stage, body: dict[str, Any]) -> None:
    namespace = body["metadata"]["namespace"]
    stage.objects.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "inferenceworkloads", body
    )


def wait_placed(
    stage: Stage,
    name: str,
    cluster: str,
    replicas: int,
    timeout: float = 90,
    *,
    namespace: str = MOVES,
) -> None:
    wait_for(
        lambda: (
            (
                s := (stage.hub.get("inferenceworkloads", name, namespace) or {}).get("status", {})
            ).get("currentCluster")
            == cluster
            and s.get("readyReplicas") == replicas
        ),
        timeout=timeout,
        what=f"{name} placed and ready in {cluster}",
    )


def create_migration(
    stage: Stage,
    name: str,
    workload: str,
    *,
    source: str,
    target: str,
    deadline: int = 180,
    namespace: str = MOVES,
) -> dict[str, Any]:
    body = {
        "apiVersion": API_VERSION,
        "kind": "Migration",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "workload": workload,
            "fromCluster": source,
            "toCluster": target,
            "deadlineSeconds": deadline,
            "reason": {"trigger": "Manual", "message": "end-to-end test"},
        },
    }
    created: dict[str, Any] = stage.objects.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "migrations", body
    )
    return created


def wait_ended(
    stage: Stage, name: str, timeout: float = 240, *, namespace: str = MOVES
) -> dict[str, Any]:
    found: dict[str, Any] = wait_for(
        lambda: (
            m
            if (m := stage.hub.get("migrations", name, namespace))
            and m.get("status", {}).get("phase") in ("Completed", "RolledBack", "Failed")
            and m["status"].get("ledgerRecorded")
            else None
        ),
        timeout=timeout,
        interval=0.5,
        what=f"Migration {name} to end and be recorded",
    )
    return found

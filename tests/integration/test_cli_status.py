"""`gridshift status` reads the fleet's real hub (cluster "shanghai", CRDs applied server-side)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import Result
from kubernetes import client
from operator_process import install_api
from typer.testing import CliRunner

from orchestrator.api.common import API_VERSION, GROUP, VERSION
from orchestrator.cli import app
from orchestrator.clusters.hub import HubClient
from orchestrator.clusters.kube import client_from_file
from orchestrator.devenv import Fleet
from orchestrator.devenv.procs import free_port

HUB = "shanghai"
RUN = uuid.uuid4().hex[:6]
NS = f"cli-{RUN}"


def gridshift(*args: str, env: dict[str, str | None] | None = None) -> Result:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "250", **(env or {})})


def cells(output: str, first: str) -> list[str]:
    """The cells of the table row whose first cell is ``first``."""
    for line in output.splitlines():
        parts = [c.strip() for c in line.split("│")[1:-1]]
        if parts and parts[0] == first:
            return parts
    raise AssertionError(f"no row {first!r} in:\n{output}")


def stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def create(hub: HubClient, plural: str, body: dict[str, Any], status: dict[str, Any]) -> None:
    """Create an object and write its status, as the operator would."""
    objects = client.CustomObjectsApi(hub.api)
    namespace = body["metadata"].get("namespace")
    if namespace:
        objects.create_namespaced_custom_object(GROUP, VERSION, namespace, plural, body)
    else:
        objects.create_cluster_custom_object(GROUP, VERSION, plural, body)
    hub.patch_status(plural, body["metadata"]["name"], status, namespace=namespace)


@pytest.fixture(scope="module")
def hub(fleet: Fleet) -> Path:
    """The hub's kubeconfig; it holds two zones, two clusters, a workload and a move of this run."""
    install_api(fleet)
    path = fleet.kubeconfig(HUB)
    api = HubClient(client_from_file(path))
    client.CoreV1Api(api.api).create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=NS))
    )
    now = datetime.now(UTC)
    meta = {"apiVersion": API_VERSION}
    create(
        api,
        "gridzones",
        {**meta, "kind": "GridZone", "metadata": {"name": f"peak-{RUN}"}, "spec": {"currency": "CNY"}},
        {
            "pricePerKWh": 1.4352, "priceCurrency": "CNY", "priceUnit": "CNY/kWh", "peakLevel": 3,
            "touPeriod": "CriticalPeak", "stale": False, "lastSignalTime": stamp(now),
            "activeEvents": [f"dre-{RUN}"],
        },
    )  # fmt: skip
    create(
        api,
        "gridzones",
        {**meta, "kind": "GridZone", "metadata": {"name": f"quiet-{RUN}"}, "spec": {}},
        {"stale": True, "lastSignalTime": stamp(now - timedelta(hours=2)), "peakLevel": 0},
    )
    secret = {"name": "member", "namespace": "gridshift-system", "key": "kubeconfig"}
    condition = {
        "type": "Reachable", "status": "False", "reason": "Unreachable",
        "message": "connection refused", "lastTransitionTime": stamp(now),
    }  # fmt: skip
    create(
        api,
        "memberclusters",
        {
            **meta, "kind": "MemberCluster", "metadata": {"name": f"dark-{RUN}"},
            "spec": {"zone": f"peak-{RUN}", "kubeconfigSecretRef": secret, "cordoned": True},
        },
        {"conditions": [condition], "allocatableGPUs": 64, "freeGPUs": 0},
    )  # fmt: skip
    create(
        api,
        "memberclusters",
        {
            **meta, "kind": "MemberCluster", "metadata": {"name": f"ok-{RUN}"},
            "spec": {"zone": f"quiet-{RUN}", "kubeconfigSecretRef": secret},
        },
        {"conditions": [{**condition, "status": "True", "reason": "Probed"}], "allocatableGPUs": 64, "freeGPUs": 56},
    )  # fmt: skip
    create(
        api,
        "inferenceworkloads",
        {
            **meta, "kind": "InferenceWorkload", "metadata": {"name": "chat", "namespace": NS},
            "spec": {
                "template": {"replicas": 2, "template": {"spec": {"containers": [{"name": "s", "image": "m:1"}]}}},
                "power": {"gpusPerReplica": 4, "wattsPerGPU": 700},
                "placement": {"homeCluster": f"dark-{RUN}"},
            },
        },
        {"currentCluster": f"ok-{RUN}", "desiredReplicas": 2, "readyReplicas": 1, "powerKW": 2.8, "activeMigration": "chat-back"},
    )  # fmt: skip
    create(
        api,
        "migrations",
        {
            **meta, "kind": "Migration", "metadata": {"name": "chat-back", "namespace": NS},
            "spec": {"workload": "chat", "fromCluster": f"ok-{RUN}", "toCluster": f"dark-{RUN}", "deadlineSeconds": 180},
        },
        {"phase": "ShiftingTraffic", "startTime": stamp(now - timedelta(seconds=40)), "trafficPercent": 50},
    )  # fmt: skip
    create(
        api,
        "migrations",
        {
            **meta, "kind": "Migration", "metadata": {"name": "chat-earlier", "namespace": NS},
            "spec": {"workload": "chat", "fromCluster": f"dark-{RUN}", "toCluster": f"ok-{RUN}"},
        },
        {"phase": "Completed", "startTime": stamp(now - timedelta(hours=1)), "trafficPercent": 100},
    )  # fmt: skip
    return path


def test_status_shows_zones_clusters_workloads_and_moves_in_flight(hub: Path) -> None:
    """One screen: each zone, cluster, workload and the migration in flight, read from the hub."""
    done = gridshift("status", "--kubeconfig", str(hub))
    assert done.exit_code == 0, done.output
    out = done.stdout
    peak = cells(out, f"peak-{RUN}")
    assert peak[1:4] == ["1.4352 CNY/kWh", "3 critical", "CriticalPeak"]
    assert peak[4].startswith("fresh")
    assert peak[5] == f"dre-{RUN}"
    assert cells(out, f"quiet-{RUN}")[4].startswith("Stale (2 h 0 min")
    assert cells(out, f"dark-{RUN}") == [f"dark-{RUN}", f"peak-{RUN}", "no", "0/64", "yes"]
    assert cells(out, f"ok-{RUN}") == [f"ok-{RUN}", f"quiet-{RUN}", "yes", "56/64", "no"]
    assert cells(out, f"{NS}/chat") == [
        f"{NS}/chat",
        f"ok-{RUN}",
        f"dark-{RUN}",
        "1/2",
        "2.8",
        "chat-back",
    ]
    move = cells(out, f"{NS}/chat-back")
    assert move[2:4] == [f"ok-{RUN} → dark-{RUN}", "ShiftingTraffic"]
    assert move[4].endswith("/ 180 s")
    assert move[5] == "50 %"
    assert f"{NS}/chat-earlier" not in out  # ended: not in flight


def test_status_reads_the_kubeconfig_from_the_environment(hub: Path) -> None:
    """GRIDSHIFT_KUBECONFIG is used when --kubeconfig is not given."""
    done = gridshift("status", env={"GRIDSHIFT_KUBECONFIG": str(hub)})
    assert done.exit_code == 0, done.output
    assert f"peak-{RUN}" in done.stdout


def test_status_watch_refreshes_a_bounded_number_of_times(hub: Path) -> None:
    """--watch with --refreshes 2 shows the screen and returns by itself, exit 0."""
    done = gridshift(
        "status", "--kubeconfig", str(hub), "--watch", "--interval", "1", "--refreshes", "2"
    )
    assert done.exit_code == 0, done.output
    assert f"{NS}/chat-back" in done.stdout


def test_no_kubeconfig_names_the_variable() -> None:
    """Without --kubeconfig or GRIDSHIFT_KUBECONFIG: exit 1, saying what to set."""
    done = gridshift("status", env={"GRIDSHIFT_KUBECONFIG": None})
    assert done.exit_code == 1
    assert "no hub kubeconfig: pass --kubeconfig or set GRIDSHIFT_KUBECONFIG" in done.stderr


def test_an_unreachable_hub_says_so(hub: Path, tmp_path: Path) -> None:
    """A hub whose API server does not answer: exit 1 and 'the hub is unreachable'."""
    config = yaml.safe_load(hub.read_text())
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{free_port()}"
    dark = tmp_path / "dark-hub.yaml"
    dark.write_text(yaml.safe_dump(config))
    done = gridshift("status", "--kubeconfig", str(dark))
    assert done.exit_code == 1
    assert done.stderr.startswith("error: the hub is unreachable")
    assert "Traceback" not in done.output


def test_plan_explain_plans_from_the_hub_and_creates_nothing(hub: Path) -> None:
    """`plan --explain` reads the hub, prints the plan, and creates no Migration."""
    objects = client.CustomObjectsApi(HubClient(client_from_file(hub)).api)
    before = objects.list_namespaced_custom_object(GROUP, VERSION, NS, "migrations")["items"]
    done = gridshift(
        "plan", "--explain", "--kubeconfig", str(hub), env={"GRIDSHIFT_DATABASE_URL": None}
    )
    assert done.exit_code == 0, done.output
    assert done.stdout.startswith("plan at ")
    after = objects.list_namespaced_custom_object(GROUP, VERSION, NS, "migrations")["items"]
    assert [m["metadata"]["name"] for m in after] == [m["metadata"]["name"] for m in before]

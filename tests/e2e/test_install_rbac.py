"""gridshift moves a workload with nothing but the chart's RBAC: hub token and member tokens.

The chart is installed into the hub's gridshift-system (release ``gridshift``; replicaCount 0:
the operator runs here as a process, out of cluster, with a TokenRequest token of the chart's
ServiceAccount in a kubeconfig that holds nothing else). The members it moves between are
registered by hack/member-account.sh, under MemberCluster names of their own, with tokens of a
member-side ServiceAccount bound to manifests/rbac/member-cluster-rbac.yaml. A forbidden call
anywhere fails the move or shows in the operator's log.

Two operators must never act on the same objects at once, and every gridshift operator is
cluster-wide: a second one beside the stage's would race it for every Migration. So the stage's
admin-credentialed operator is stopped (SIGTERM: it finishes its step and releases the leader
Lease) before the restricted one starts, and started again, and awaited, after it has stopped.
While it runs, the restricted operator is the only operator and may also reconcile the stage's
other objects: that is what a restarted operator does, and it exercises the same RBAC.
"""

from __future__ import annotations

import base64
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from conftest import (
    MOVES,
    Stage,
    create_migration,
    create_workload,
    wait_ended,
    wait_placed,
    workload,
)
from kube import apps, wait_for
from kubernetes import client
from operator_process import HUB, NAMESPACE, Operator

from orchestrator.clusters.kube import client_from_file
from orchestrator.devenv.binaries import locate_binaries

REPO = Path(__file__).resolve().parents[2]
RELEASE = "gridshift"  # the chart's ServiceAccount, ClusterRole and Role are named so
SOURCE, TARGET = "shanghai", "hubei"
MEMBER_ACCOUNT = "gridshift-remote"  # member side; never the hub's own account (shanghai is both)

pytestmark = pytest.mark.timeout(600)


def _kubectl_path() -> str:
    return str(locate_binaries(None).path("kubectl"))


def install_chart(stage: Stage) -> None:
    """`helm template` of the chart, applied server-side to the hub (no Pods: replicaCount 0)."""
    helm = locate_binaries(None).path("helm")
    rendered = subprocess.run(
        [str(helm), "template", RELEASE, str(REPO / "helm" / "gridshift"), "--namespace",
         NAMESPACE, "--skip-tests", "--set", "replicaCount=0"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    stage.fleet.kubectl(
        HUB, "apply", "--server-side", "--field-manager=gridshift-install-tests", "-f", "-",
        stdin=rendered,
    )  # fmt: skip


def token_kubeconfig(stage: Stage, directory: Path) -> Path:
    """A kubeconfig for the hub holding only a TokenRequest token of the chart's account."""
    token = stage.fleet.kubectl(
        HUB, "create", "token", RELEASE, "-n", NAMESPACE, "--duration=2h"
    ).strip()
    admin = yaml.safe_load(stage.fleet.kubeconfig(HUB).read_text())
    cluster = admin["clusters"][0]["cluster"]
    ca = (
        cluster.get("certificate-authority-data")
        or base64.b64encode(Path(cluster["certificate-authority"]).read_bytes()).decode()
    )
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "hub",
                "cluster": {"server": cluster["server"], "certificate-authority-data": ca},
            }
        ],
        "users": [{"name": RELEASE, "user": {"token": token}}],
        "contexts": [{"name": "hub", "context": {"cluster": "hub", "user": RELEASE}}],
        "current-context": "hub",
    }
    path = directory / "hub-token.yaml"
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


def register_with_member_accounts(stage: Stage, members: dict[str, str]) -> None:
    """hack/member-account.sh for each member: MemberCluster NAME -> cluster (zone) in the hub."""
    for name, cluster in members.items():
        done = subprocess.run(
            ["bash", str(REPO / "hack" / "member-account.sh"), "--name", name, "--zone", cluster,
             "--member-kubeconfig", str(stage.fleet.kubeconfig(cluster)),
             "--hub-kubeconfig", str(stage.fleet.kubeconfig(HUB)),
             "--service-account", MEMBER_ACCOUNT, "--kubectl", _kubectl_path()],
            capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def restricted(stage: Stage) -> Iterator[Operator]:
    """The chart installed, the stage's operator stopped, one running on the chart's token."""
    install_chart(stage)
    logs = Path(tempfile.mkdtemp(prefix="gridshift-rbac-operator-"))
    kubeconfig = token_kubeconfig(stage, logs)
    members = {f"rbac-{SOURCE}": SOURCE, f"rbac-{TARGET}": TARGET}
    register_with_member_accounts(stage, members)
    stage.operator.stop()
    operator = Operator(kubeconfig, stage.database_url, logs, env=dict(stage.operator.env))
    try:
        operator.start()
        wait_for(
            lambda: all(
                (stage.hub.get("memberclusters", name) or {}).get("status", {}).get("freeGPUs")
                for name in members
            ),
            timeout=90,
            what="both member-account MemberClusters probed by the restricted operator",
        )
        yield operator
    finally:
        # deleted while an operator runs: kopf's finalizer on a MemberCluster (its probe timer)
        # is removed by the operator; whatever is left, the stage's operator finishes
        for name in members:
            stage.fleet.kubectl(
                HUB, "delete", "membercluster", name, "--ignore-not-found", "--wait=false"
            )
        if operator.alive():
            _wait_gone(stage, list(members))
        operator.stop()
        stage.operator.start()
        base = f"http://127.0.0.1:{stage.operator.webhook_port}"
        wait_for(lambda: _answers(f"{base}/healthz"), timeout=60, what="the stage's operator back")


def _wait_gone(stage: Stage, members: list[str], timeout: float = 60) -> None:
    """Best effort (teardown): wait until the MemberClusters are gone, then drop their Secrets."""
    try:
        wait_for(
            lambda: not any(stage.hub.get("memberclusters", name) for name in members),
            timeout=timeout,
            what="the member-account MemberClusters deleted",
        )
    except AssertionError:
        return  # left to the stage's operator, with their Secrets
    for name in members:
        stage.fleet.kubectl(
            HUB, "delete", "secret", f"member-{name}", "-n", NAMESPACE, "--ignore-not-found"
        )


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_a_workload_moves_with_only_the_charts_service_account(
    stage: Stage, restricted: Operator
) -> None:
    """Placed, moved rbac-shanghai -> rbac-hubei inside its deadline, recorded; no 403 logged."""
    source, target = f"rbac-{SOURCE}", f"rbac-{TARGET}"
    create_workload(stage, workload("rbac-chat", home=source, ready_after="5s"))
    try:
        wait_placed(stage, "rbac-chat", source, 2)
        create_migration(stage, "rbac-chat-move", "rbac-chat", source=source, target=target)
        moved = wait_ended(stage, "rbac-chat-move")
        assert moved["status"]["phase"] == "Completed", moved["status"]
        assert moved["status"]["deadlineMet"] is True
        assert moved["status"]["ledgerRecorded"] is True
        in_target = apps(stage.fleet.kubeconfig(TARGET)).read_namespaced_deployment(
            "rbac-chat", MOVES
        )
        in_source = apps(stage.fleet.kubeconfig(SOURCE)).read_namespaced_deployment(
            "rbac-chat", MOVES
        )
        assert in_target.status.ready_replicas == 2
        assert in_source.spec.replicas == 0
        assert restricted.alive(), restricted.log()[-3000:]
        log = restricted.log()
        assert "forbidden" not in log.lower(), [
            line for line in log.splitlines() if "forbidden" in line.lower()
        ][:5]
    finally:
        stage.objects.delete_namespaced_custom_object(
            "gridshift.io", "v1alpha1", MOVES, "inferenceworkloads", "rbac-chat"
        )


def test_the_same_token_is_refused_beyond_gridshifts_calls(
    stage: Stage, restricted: Operator
) -> None:
    """The token that moved workloads reads no foreign Secret, lists no node, runs no Pod."""
    api = client_from_file(restricted.kubeconfig)
    core, apps_api = client.CoreV1Api(api), client.AppsV1Api(api)
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"},
           "spec": {"containers": [{"name": "x", "image": "registry.invalid/x:1"}]}}  # fmt: skip
    attempts = {
        "read a Secret in kube-system": lambda: core.list_namespaced_secret("kube-system"),
        "list Secrets in its own namespace": lambda: core.list_namespaced_secret(NAMESPACE),
        "list nodes": lambda: core.list_node(),
        "delete a node": lambda: core.delete_node(f"{HUB}-gpu-0"),
        "create a Pod": lambda: core.create_namespaced_pod(NAMESPACE, pod),
        "read Deployments in the hub": lambda: apps_api.list_namespaced_deployment(MOVES),
        "scale a Deployment in the hub": lambda: apps_api.patch_namespaced_deployment_scale(
            RELEASE, NAMESPACE, {"spec": {"replicas": 1}}
        ),
    }
    refused = {}
    for what, attempt in attempts.items():
        try:
            attempt()
        except client.ApiException as exc:
            refused[what] = exc.status
        else:
            refused[what] = 200
    assert refused == dict.fromkeys(attempts, 403)
    # and what it needs still works: its own Secret by name
    secret = core.read_namespaced_secret(f"member-rbac-{TARGET}", NAMESPACE)
    assert "kubeconfig" in (secret.data or {})

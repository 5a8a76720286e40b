"""The install applied to a real kube-apiserver (the fleet's hub), and what its accounts may do.

The chart is applied as a release of its own in a fresh namespace (so it never meets the
end-to-end stage's install in gridshift-system); the plain manifests install into
gridshift-system as documented and only their namespaced and RBAC objects are removed after.
Permissions are asked of the API server itself (SubjectAccessReview), as the ServiceAccount.
"""

from __future__ import annotations

import base64
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from orchestrator.clusters.kube import client_from_file, client_from_kubeconfig
from orchestrator.clusters.member import MemberClient
from orchestrator.devenv import Fleet
from orchestrator.devenv.binaries import Binaries

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "gridshift"
HUB = "shanghai"
MEMBER = "hubei"
MANAGER = "gridshift-install-tests"

BARE_POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "x"},
    "spec": {"containers": [{"name": "x", "image": "registry.invalid/x:1"}]},
}

pytestmark = pytest.mark.timeout(300)


@dataclass(frozen=True)
class Release:
    """A rendered and applied chart release."""

    name: str
    namespace: str
    service_account: str
    objects: list[dict[str, Any]]


def helm_template(binaries: Binaries, release: str, namespace: str, *sets: str) -> str:
    args = [arg for value in sets for arg in ("--set", value)]
    done = subprocess.run(
        [str(binaries.path("helm")), "template", release, str(CHART), "--namespace", namespace,
         "--include-crds", *args],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def apply(fleet: Fleet, manifests: str) -> None:
    fleet.kubectl(
        HUB, "apply", "--server-side", f"--field-manager={MANAGER}", "-f", "-", stdin=manifests
    )


def exists(fleet: Fleet, obj: dict[str, Any]) -> bool:
    meta = obj["metadata"]
    group = obj["apiVersion"].split("/")[0] if "/" in obj["apiVersion"] else ""
    kind = f"{obj['kind'].lower()}.{group}" if group else obj["kind"].lower()
    scope = ["-n", meta["namespace"]] if meta.get("namespace") else []
    out = fleet.kubectl(HUB, "get", kind, meta["name"], *scope, "-o", "name", "--ignore-not-found")
    return bool(out.strip())


@pytest.fixture(scope="module")
def release(fleet: Fleet, binaries: Binaries) -> Iterator[Release]:
    """The chart (CRDs, ingress and secrets on) applied server-side in a namespace of its own."""
    name = f"chart-{uuid.uuid4().hex[:6]}"
    rendered = helm_template(
        binaries,
        name,
        name,
        "ingress.enabled=true",
        "database.url=postgresql+psycopg://gridshift:pw@ledger:5432/gridshift",
        "gridOperators.tokens.sgcc=token-1",
    )
    objects = [d for d in yaml.safe_load_all(rendered) if d]
    fleet.kubectl(HUB, "create", "namespace", name)
    try:
        apply(fleet, rendered)
        sa = next(o for o in objects if o["kind"] == "ServiceAccount")["metadata"]["name"]
        yield Release(name, name, sa, objects)
    finally:
        fleet.kubectl(HUB, "delete", "namespace", name, "--wait=false")
        fleet.kubectl(
            HUB, "delete", "clusterrole,clusterrolebinding", f"{name}-gridshift",
            "--ignore-not-found",
        )  # fmt: skip


def allowed(
    fleet: Fleet,
    account: tuple[str, str],
    verb: str,
    resource: str,
    *,
    group: str = "",
    namespace: str | None = None,
    subresource: str | None = None,
    name: str | None = None,
    cluster: str = HUB,
) -> bool:
    """Ask the API server whether ServiceAccount ``account`` (namespace, name) may do this."""
    api = client.AuthorizationV1Api(client_from_file(fleet.kubeconfig(cluster)))
    namespace_of_account, sa = account
    review = client.V1SubjectAccessReview(
        spec=client.V1SubjectAccessReviewSpec(
            user=f"system:serviceaccount:{namespace_of_account}:{sa}",
            groups=[
                "system:serviceaccounts",
                f"system:serviceaccounts:{namespace_of_account}",
                "system:authenticated",
            ],
            resource_attributes=client.V1ResourceAttributes(
                verb=verb,
                group=group,
                resource=resource,
                subresource=subresource,
                namespace=namespace,
                name=name,
            ),
        )
    )
    return bool(api.create_subject_access_review(review).status.allowed)


class TestTheChartInstalls:
    def test_every_rendered_object_is_accepted_by_the_apiserver(
        self, fleet: Fleet, release: Release
    ) -> None:
        """Server-side apply of `helm template --include-crds` created every object."""
        kinds = {o["kind"] for o in release.objects}
        assert {"CustomResourceDefinition", "Deployment", "ClusterRole", "Role", "Ingress",
                "Secret", "Pod"} <= kinds  # fmt: skip
        missing = [
            (o["kind"], o["metadata"]["name"]) for o in release.objects if not exists(fleet, o)
        ]
        assert missing == []

    def test_the_deployment_runs_two_replicas_as_the_chart_account(
        self, fleet: Fleet, release: Release
    ) -> None:
        """The Deployment's ReplicaSet made 2 Pods running as the chart's ServiceAccount."""
        out = fleet.kubectl(
            HUB, "get", "pods", "-n", release.namespace, "-l",
            "app.kubernetes.io/component=operator", "-o", "yaml",
        )  # fmt: skip
        pods = yaml.safe_load(out)["items"]
        assert len(pods) == 2
        assert {p["spec"]["serviceAccountName"] for p in pods} == {release.service_account}

    def test_a_second_apply_changes_nothing(self, fleet: Fleet, release: Release) -> None:
        """Re-applying the same rendering is a no-op (server-side apply, same manager)."""
        deployment = next(o for o in release.objects if o["kind"] == "Deployment")
        name = deployment["metadata"]["name"]
        before = fleet.kubectl(
            HUB, "get", "deployment", name, "-n", release.namespace,
            "-o", "jsonpath={.metadata.generation}",
        )  # fmt: skip
        apply(fleet, yaml.safe_dump_all(release.objects))
        after = fleet.kubectl(
            HUB, "get", "deployment", name, "-n", release.namespace,
            "-o", "jsonpath={.metadata.generation}",
        )  # fmt: skip
        assert before == after


class TestThePlainManifestsInstall:
    def test_kustomize_output_applies_server_side(self, fleet: Fleet, binaries: Binaries) -> None:
        """`kubectl kustomize manifests/` applied server-side: every object exists after."""
        built = subprocess.run(
            [str(binaries.path("kubectl")), "kustomize", str(REPO / "manifests")],
            capture_output=True, text=True, timeout=60, check=True,
        ).stdout  # fmt: skip
        objects = [d for d in yaml.safe_load_all(built) if d]
        apply(fleet, built)
        try:
            missing = [(o["kind"], o["metadata"]["name"]) for o in objects if not exists(fleet, o)]
            assert missing == []
        finally:
            # the CRDs and the namespace stay: the hub's other tests use them
            for obj in objects:
                if obj["kind"] in ("CustomResourceDefinition", "Namespace"):
                    continue
                meta = obj["metadata"]
                scope = ["-n", meta["namespace"]] if meta.get("namespace") else []
                fleet.kubectl(
                    HUB, "delete", obj["kind"].lower(), meta["name"], *scope,
                    "--ignore-not-found", "--wait=false",
                )  # fmt: skip


def _sa(release: Release) -> tuple[str, str]:
    return release.namespace, release.service_account


class TestTheChartAccountIsSufficient:
    @pytest.mark.parametrize(
        ("verb", "resource", "group", "subresource", "where"),
        [
            ("watch", "migrations", "gridshift.io", None, "any"),
            ("patch", "migrations", "gridshift.io", "status", "any"),
            ("create", "migrations", "gridshift.io", None, "any"),
            ("patch", "inferenceworkloads", "gridshift.io", None, "any"),
            ("list", "memberclusters", "gridshift.io", None, None),
            ("patch", "gridzones", "gridshift.io", "status", None),
            ("create", "demandresponseevents", "gridshift.io", None, None),
            ("patch", "migrationpolicies", "gridshift.io", "status", None),
            ("create", "events", "", None, "any"),
            ("list", "namespaces", "", None, None),
            ("watch", "customresourcedefinitions", "apiextensions.k8s.io", None, None),
            ("patch", "httproutes", "gateway.networking.k8s.io", None, "any"),
            ("get", "secrets", "", None, "own"),
            ("update", "leases", "coordination.k8s.io", None, "own"),
            ("create", "leases", "coordination.k8s.io", None, "own"),
        ],
    )  # fmt: skip
    def test_what_gridshift_calls_is_allowed(
        self,
        fleet: Fleet,
        release: Release,
        verb: str,
        resource: str,
        group: str,
        subresource: str | None,
        where: str | None,
    ) -> None:
        """The calls the code makes in the hub are granted (own namespace or cluster-wide)."""
        namespace = {"any": "moves", "own": release.namespace, None: None}[where]
        assert allowed(
            fleet, _sa(release), verb, resource, group=group, namespace=namespace,
            subresource=subresource,
        )  # fmt: skip


class TestTheChartAccountIsNotExcessive:
    @pytest.mark.parametrize(
        ("verb", "resource", "group", "where", "subresource"),
        [
            ("get", "secrets", "", "kube-system", None),
            ("get", "secrets", "", "default", None),
            ("list", "secrets", "", "own", None),
            ("watch", "secrets", "", "own", None),
            ("create", "secrets", "", "own", None),
            ("delete", "nodes", "", None, None),
            ("list", "nodes", "", None, None),
            ("create", "pods", "", "own", None),
            ("create", "pods", "", "default", None),
            ("get", "deployments", "apps", "own", None),
            ("patch", "deployments", "apps", "default", None),
            ("create", "deployments", "apps", "moves", None),
            ("patch", "deployments", "apps", "moves", "scale"),
            ("delete", "migrations", "gridshift.io", "moves", None),
            ("delete", "memberclusters", "gridshift.io", None, None),
            ("update", "gridzones", "gridshift.io", None, None),
            ("create", "namespaces", "", None, None),
            ("get", "leases", "coordination.k8s.io", "kube-system", None),
            ("escalate", "clusterroles", "rbac.authorization.k8s.io", None, None),
            ("bind", "clusterroles", "rbac.authorization.k8s.io", None, None),
            ("create", "clusterrolebindings", "rbac.authorization.k8s.io", None, None),
            ("impersonate", "users", "", None, None),
            ("create", "serviceaccounts", "", "own", "token"),
            ("delete", "customresourcedefinitions", "apiextensions.k8s.io", None, None),
        ],
    )  # fmt: skip
    def test_what_gridshift_never_calls_is_denied(
        self,
        fleet: Fleet,
        release: Release,
        verb: str,
        resource: str,
        group: str,
        where: str | None,
        subresource: str | None,
    ) -> None:
        """No Secrets outside its namespace, no nodes, pods or Deployments, no escalation."""
        namespace = release.namespace if where == "own" else where
        assert not allowed(
            fleet, _sa(release), verb, resource, group=group, namespace=namespace,
            subresource=subresource,
        )  # fmt: skip


@pytest.fixture(scope="module")
def member_account(fleet: Fleet, binaries: Binaries) -> Iterator[tuple[str, str]]:
    """hack/member-account.sh run for hubei into the hub: (MemberCluster name, kubeconfig)."""
    name = f"acct-{uuid.uuid4().hex[:6]}"
    done = subprocess.run(
        ["bash", str(REPO / "hack" / "member-account.sh"), "--name", name, "--zone", MEMBER,
         "--member-kubeconfig", str(fleet.kubeconfig(MEMBER)),
         "--hub-kubeconfig", str(fleet.kubeconfig(HUB)),
         "--service-account", "gridshift-acct", "--kubectl", str(binaries.path("kubectl"))],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    try:
        secret = client.CoreV1Api(client_from_file(fleet.kubeconfig(HUB))).read_namespaced_secret(
            f"member-{name}", "gridshift-system"
        )
        yield name, base64.b64decode(secret.data["kubeconfig"]).decode()
    finally:
        fleet.kubectl(HUB, "delete", "membercluster", name, "--ignore-not-found")
        fleet.kubectl(
            HUB, "delete", "secret", f"member-{name}", "-n", "gridshift-system",
            "--ignore-not-found",
        )  # fmt: skip


class TestTheMemberAccount:
    def test_the_script_registers_the_member_with_a_token_only_kubeconfig(
        self, fleet: Fleet, member_account: tuple[str, str]
    ) -> None:
        """MemberCluster + Secret in the hub; the kubeconfig carries a token, no admin cert."""
        name, kubeconfig = member_account
        user = yaml.safe_load(kubeconfig)["users"][0]["user"]
        assert set(user) == {"token"}
        found = yaml.safe_load(fleet.kubectl(HUB, "get", "membercluster", name, "-o", "yaml"))
        assert found["spec"]["zone"] == MEMBER
        assert found["spec"]["kubeconfigSecretRef"] == {
            "name": f"member-{name}", "namespace": "gridshift-system", "key": "kubeconfig",
        }  # fmt: skip

    def test_every_call_gridshift_makes_in_a_member_succeeds(
        self, fleet: Fleet, member_account: tuple[str, str]
    ) -> None:
        """Probe, namespace, dry-run and real apply, read, scale, delete: all with the token."""
        _, kubeconfig = member_account
        member = MemberClient(MEMBER, client_from_kubeconfig(kubeconfig))
        probe = member.probe()
        assert probe.allocatable_gpus > 0
        namespace = f"acct-{uuid.uuid4().hex[:6]}"
        labels = {"app": "acct", "gridshift.io/managed": "true"}
        deployment = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "model", "namespace": namespace, "labels": labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "acct"}},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "m", "image": "registry.invalid/m:1"}]},
                },
            },
        }
        service = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "model", "namespace": namespace, "labels": labels},
            "spec": {"selector": {"app": "acct"}, "ports": [{"port": 8000}]},
        }
        try:
            member.ensure_namespace(namespace)
            member.apply(deployment, dry_run=True)
            member.apply(deployment)
            member.apply(service)
            member.scale(namespace, "model", 0)
            state = member.read_deployment(namespace, "model")
            assert state is not None
            assert state.replicas == 0
            listed = client.AppsV1Api(member.api).list_deployment_for_all_namespaces(
                label_selector="gridshift.io/managed=true", watch=False
            )
            assert any(d.metadata.namespace == namespace for d in listed.items)
            assert member.delete("Deployment", namespace, "model") is True
            assert member.delete("Service", namespace, "model") is True
        finally:
            fleet.kubectl(MEMBER, "delete", "namespace", namespace, "--wait=false")

    def test_the_member_account_cannot_read_secrets_or_run_pods(
        self, member_account: tuple[str, str]
    ) -> None:
        """The member token reads no Secret, creates no bare Pod, deletes no node."""
        _, kubeconfig = member_account
        api = client_from_kubeconfig(kubeconfig)
        core = client.CoreV1Api(api)
        attempts = {
            "read a Secret": lambda: core.list_namespaced_secret("kube-system"),
            "create a Pod": lambda: core.create_namespaced_pod("default", BARE_POD),
            "delete a node": lambda: core.delete_node(f"{MEMBER}-gpu-0"),
            "read a ConfigMap": lambda: core.list_namespaced_config_map("kube-system"),
        }
        for what, attempt in attempts.items():
            with pytest.raises(client.ApiException) as refused:
                attempt()
            assert refused.value.status == 403, what

"""The chart installed as a user installs it: `helm install` into the hub, the operator image
on the hub's real node, then a move, `helm test`, a deleted leader, an upgrade, an uninstall.

The release runs the image ``make image`` builds (imported into the real node's containerd, no
registry) as the chart ships it: two replicas electing a leader through a Lease, the liveness
and readiness probes, its ServiceAccount, ClusterRole and Role, the webhook Service. Its Pods
tolerate and select the real node. They reach the hub's API server through the ``kubernetes``
Service (its ClusterIP under the name the chart's hub kubeconfig uses, by ``hostAliases``: the
fleet has no cluster DNS), the members through the WAN proxies their MemberCluster Secrets name,
and the ledger at the hub province's host-side address, where the session's PostgreSQL also
listens from this module on.

Every gridshift operator is cluster-wide, and two would race for every object. So the stage's
operator is stopped (SIGTERM: it hands its Lease back) while the release is installed, and it is
started again, and awaited, after the uninstall. The release has a Lease of its own, never the
stage's, and its workloads a namespace of their own (``helm-moves``).
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from conftest import Stage, create_migration, create_workload, wait_ended, wait_placed, workload
from kube import apps, core, wait_for
from kubernetes import client, watch
from operator_process import HUB, NAMESPACE
from sqlalchemy import text

from orchestrator.api.common import GROUP, VERSION
from orchestrator.api.kinds import KINDS
from orchestrator.clusters.lease import LeaseClient, LeaseRecord
from orchestrator.devenv import LocalPostgres
from orchestrator.devenv.binaries import locate_binaries
from orchestrator.devenv.dataplane import EDGE_GATEWAY, EDGE_NAMESPACE
from orchestrator.devenv.images import ensure_image
from orchestrator.devenv.kubelet import REAL_NODE_LABEL, REAL_NODE_TAINT
from orchestrator.devenv.postgres import DB_NAME, DB_USER
from orchestrator.devenv.realnode import node_name
from orchestrator.ledger.db import make_engine, session_factory
from orchestrator.ledger.migration_repo import get_migration
from orchestrator.settings import Settings

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "gridshift"
RELEASE = "gridshift-helm"  # never the name test_install_rbac.py applies the chart under
LEASE_NAME = f"{RELEASE}-leader"
WORKLOADS = "helm-moves"
SOURCE, TARGET = "shanghai", "hubei"
LEASE = Settings.model_fields["lease_duration_seconds"].default
BOOT = 240.0
"""From `helm install` to two Ready replicas on a loaded 2-core machine (image import apart)."""
MID_FLIGHT = {"Provisioning", "WarmingUp"}
FORWARD = ["Pending", "Preflight", "Provisioning", "WarmingUp", "ShiftingTraffic", "Draining",
           "Releasing", "Completed"]  # fmt: skip
UNINSTALL_NOTE = "It leaves the CRDs untouched"
UPGRADED = ("helm-upgrade-a", "helm-upgrade-b")
"""The workloads moving while `helm upgrade` rolls the Pods."""
UPGRADE_LOAD = "60s"
"""Their model load time: each move warms up this long, longer than the rolling update."""

pytestmark = pytest.mark.timeout(1200)


@dataclass
class Release:
    """The installed release and what the tests drive it with."""

    stage: Stage
    image: str
    next_image: str
    notes: str
    leases: LeaseClient

    def helm(self, *args: str, timeout: float = 400) -> str:
        return helm(self.stage, *args, timeout=timeout)

    def pods(self) -> list[client.V1Pod]:
        found = core(self.stage.fleet.kubeconfig(HUB)).list_namespaced_pod(
            NAMESPACE, label_selector=f"app.kubernetes.io/instance={RELEASE},"
            "app.kubernetes.io/component=operator",
        )  # fmt: skip
        return [p for p in found.items if p.metadata.deletion_timestamp is None]

    def ready_pods(self) -> list[client.V1Pod]:
        return [p for p in self.pods() if _ready(p)]

    def lease(self) -> LeaseRecord:
        found = self.leases.read()
        assert found is not None, f"no Lease {NAMESPACE}/{LEASE_NAME}"
        return found

    def logs(self, pod: str) -> str:
        return self.stage.fleet.kubectl(HUB, "logs", "-n", NAMESPACE, pod)


def _ready(pod: client.V1Pod) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def helm(stage: Stage, *args: str, timeout: float = 400) -> str:
    """The pinned helm against the hub; its output, or a failure showing helm's error."""
    done = subprocess.run(
        [str(locate_binaries(None).path("helm")), "--kubeconfig", str(stage.fleet.kubeconfig(HUB)),
         *args],
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    assert done.returncode == 0, f"helm {' '.join(args[:2])}: {done.stderr}\n{done.stdout}"
    return done.stdout


def _values(image: str, database_url: str, cluster_ip: str) -> dict[str, Any]:
    """The release's values: the chart's defaults but for where the fleet differs from a real
    hub (a local image, the real node's taint, no cluster DNS) and the Lease of its own. The
    edge's data plane API listens on the host's loopback, out of the Pods' reach, so the chart's
    operator confirms weight steps by the routes' status alone."""
    repository, tag = image.rsplit(":", 1)
    return {
        "image": {"repository": repository, "tag": tag, "pullPolicy": "Never"},
        "database": {"url": database_url},
        "gridOperators": {"tokens": {"sgcc": secrets.token_hex(32)}},
        "nodeSelector": {REAL_NODE_LABEL: "true"},
        "tolerations": [{"key": REAL_NODE_TAINT, "operator": "Exists", "effect": "NoSchedule"}],
        "hostAliases": [{"ip": cluster_ip, "hostnames": ["kubernetes.default.svc"]}],
        "extraEnv": [
            {"name": "GRIDSHIFT_LEASE_NAME", "value": LEASE_NAME},
            {"name": "GRIDSHIFT_EDGE_GATEWAY", "value": f"{EDGE_NAMESPACE}/{EDGE_GATEWAY}"},
        ],
    }


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def release(stage: Stage, local_postgres: LocalPostgres | None) -> Iterator[Release]:
    """The chart installed with the built image on the hub's real node, the stage's operator
    stopped; afterwards uninstalled and the stage's operator leading again."""
    if local_postgres is None:
        pytest.fail(
            "the chart's Pods reach the ledger at the hub province's address: run this module "
            "with the session's own PostgreSQL (GRIDSHIFT_DATABASE_URL unset)"
        )
    fleet = stage.fleet
    net, node = fleet.net(HUB), fleet.real_node(HUB)
    assert net is not None, f"{HUB} needs a network namespace"
    assert node is not None, f"{HUB} needs a real node"
    built = ensure_image("operator")
    node.runtime.import_image(built.path, built.ref)
    next_image = f"{built.ref}-next"  # the same image under a new tag, for `helm upgrade`
    if next_image not in node.runtime.images():
        node.runtime.ctr("images", "tag", built.ref, next_image)
    workdir = Path(tempfile.mkdtemp(prefix="gridshift-helm-"))
    hub_api = core(fleet.kubeconfig(HUB))
    try:
        hub_api.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=WORKLOADS)))
    except client.ApiException as exc:
        if exc.status != 409:
            raise
    stage.operator.stop()
    try:
        local_postgres.listen_on(net.host_ip, clients=f"{net.node_ip}/32")
        database_url = (
            f"postgresql+psycopg://{DB_USER}:{local_postgres.password}@{net.host_ip}:"
            f"{local_postgres.port}/{DB_NAME}"
        )
        cluster_ip = hub_api.read_namespaced_service("kubernetes", "default").spec.cluster_ip
        values = workdir / "values.yaml"
        values.write_text(yaml.safe_dump(_values(built.ref, database_url, cluster_ip)))
        values.chmod(0o600)
        started = time.monotonic()
        notes = helm(stage, "install", RELEASE, str(CHART), "-n", NAMESPACE, "-f", str(values),
                     "--wait", "--timeout", f"{BOOT:.0f}s", timeout=BOOT + 60)  # fmt: skip
        print(f"\nhelm install --wait: {time.monotonic() - started:.1f} s", file=sys.stderr)
        leases = LeaseClient(stage.hub.api, namespace=NAMESPACE, name=LEASE_NAME)
        installed = Release(stage, built.ref, next_image, notes, leases)
        for name in UPGRADED:  # placed while the tests before the upgrade run: a minute saved
            body = workload(name, home=SOURCE, ready_after=UPGRADE_LOAD, namespace=WORKLOADS)
            create_workload(stage, body)
        wait_for(
            lambda: (
                (lease := leases.read()) is not None
                and lease.holder in {p.metadata.name for p in installed.ready_pods()}
            ),
            timeout=BOOT,
            what="a replica of the release to hold its Lease",
        )
        yield installed
    finally:
        subprocess.run(
            [str(locate_binaries(None).path("helm")), "--kubeconfig", str(fleet.kubeconfig(HUB)),
             "uninstall", RELEASE, "-n", NAMESPACE, "--ignore-not-found", "--wait"],
            capture_output=True, timeout=300, check=False,
        )  # fmt: skip
        stage.operator.start()
        base = f"http://127.0.0.1:{stage.operator.webhook_port}"
        wait_for(lambda: _answers(f"{base}/healthz"), timeout=120, what="the stage's operator back")
        for name in _workloads(stage):
            stage.objects.delete_namespaced_custom_object(
                GROUP, VERSION, WORKLOADS, "inferenceworkloads", name
            )


def _workloads(stage: Stage) -> list[str]:
    found = stage.objects.list_namespaced_custom_object(
        GROUP, VERSION, WORKLOADS, "inferenceworkloads"
    )
    return [item["metadata"]["name"] for item in found["items"]]


def _phase(stage: Stage, name: str) -> str:
    found = stage.hub.get("migrations", name, WORKLOADS) or {}
    return str(found.get("status", {}).get("phase", "Pending"))


def _place(stage: Stage, name: str, *, ready_after: str) -> None:
    create_workload(
        stage, workload(name, home=SOURCE, ready_after=ready_after, namespace=WORKLOADS)
    )
    wait_placed(stage, name, SOURCE, 2, timeout=120, namespace=WORKLOADS)


def _move(stage: Stage, name: str) -> dict[str, Any]:
    return create_migration(
        stage, f"{name}-move", name, source=SOURCE, target=TARGET, namespace=WORKLOADS
    )


def _assert_completed_once(stage: Stage, made: dict[str, Any], workload_name: str) -> None:
    """Completed inside its deadline, the target serving, the source at zero, and one ledger row
    whose phases each appear once, in order."""
    name = made["metadata"]["name"]
    status = wait_ended(stage, name, timeout=300, namespace=WORKLOADS)["status"]
    assert status["phase"] == "Completed", status
    assert status["deadlineMet"] is True, status
    selector = f"gridshift.io/workload={workload_name}"
    target = apps(stage.fleet.kubeconfig(TARGET)).list_namespaced_deployment(
        WORKLOADS, label_selector=selector
    )
    assert [(d.spec.replicas, d.status.ready_replicas) for d in target.items] == [(2, 2)]
    source = apps(stage.fleet.kubeconfig(SOURCE)).list_namespaced_deployment(
        WORKLOADS, label_selector=selector
    )
    assert [d.spec.replicas for d in source.items] == [0]
    engine = make_engine(stage.database_url)
    try:
        with session_factory(engine).begin() as session:
            record = get_migration(session, made["metadata"]["uid"])
            assert record is not None, f"{name} is not in the ledger"
            assert record.outcome == "Completed"
            assert [p.phase for p in record.phases] == FORWARD
            rows = session.execute(
                text("SELECT count(*) FROM migrations WHERE namespace = :n AND workload = :w"),
                {"n": WORKLOADS, "w": workload_name},
            ).scalar_one()
            assert rows == 1, f"{rows} ledger rows for {workload_name}"
    finally:
        engine.dispose()


def test_the_release_runs_on_the_real_node_as_the_chart_ships_it(release: Release) -> None:
    """Two Ready replicas on the hub's real node from the built image, non-root on a read-only
    root with no shell, probed on /healthz and /readyz; one leads, the other follows."""
    pods = release.ready_pods()
    assert len(pods) == 2, [p.metadata.name for p in release.pods()]
    for pod in pods:
        assert pod.spec.node_name == node_name(HUB)
        assert pod.status.pod_ip.startswith("10.240."), pod.status.pod_ip  # a real pod's address
        (container,) = pod.spec.containers
        assert container.image == release.image
        assert container.liveness_probe.http_get.path == "/healthz"
        assert container.readiness_probe.http_get.path == "/readyz"
        assert pod.spec.service_account_name == RELEASE
        (status,) = pod.status.container_statuses
        assert status.restart_count == 0, release.logs(pod.metadata.name)[-3000:]
    holder = release.lease().holder
    names = sorted(p.metadata.name for p in pods)
    assert holder in names
    (follower,) = [n for n in names if n != holder]
    wait_for(lambda: "leading replica=" in release.logs(holder), timeout=60, what="leader's log")
    assert "leading replica=" not in release.logs(follower)

    pod = names[0]
    probe = ("import os; print(os.getuid(), os.getgid()); "
             "open('/etc/gridshift-probe', 'w')")  # fmt: skip
    done = subprocess.run(
        [str(locate_binaries(None).path("kubectl")), "--kubeconfig",
         str(release.stage.fleet.kubeconfig(HUB)), "exec", "-n", NAMESPACE, pod, "--",
         "python3.11", "-c", probe],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.stdout.split() == ["10001", "10001"], done
    assert "Read-only file system" in done.stderr, done.stderr
    shell = subprocess.run(
        [str(locate_binaries(None).path("kubectl")), "--kubeconfig",
         str(release.stage.fleet.kubeconfig(HUB)), "exec", "-n", NAMESPACE, pod, "--",
         "/bin/sh", "-c", "true"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert shell.returncode != 0
    assert "no such file or directory" in (shell.stderr + shell.stdout).lower(), shell


def test_a_move_driven_by_the_installed_operator_completes(release: Release) -> None:
    """shanghai -> hubei, driven by the leading Pod: Completed in its deadline, recorded once."""
    stage = release.stage
    _place(stage, "helm-chat", ready_after="5s")
    made = _move(stage, "helm-chat")
    _assert_completed_once(stage, made, "helm-chat")
    log = release.logs(release.lease().holder)
    assert f"migration={WORKLOADS}/helm-chat-move entered phase=Completed" in log


def test_helm_test_runs_its_pod_and_passes(release: Release) -> None:
    """`helm test`: its Pod (the operator image's python3.11) runs on the real node, gets
    /healthz through the Service, exits 0, and is removed once it passed."""
    test_pod = f"{RELEASE}-test-healthz"
    seen: list[client.V1Pod] = []
    pods = core(release.stage.fleet.kubeconfig(HUB))

    def watch_the_test_pod() -> None:  # the Pod is deleted as soon as it passed: watch it live
        stream = watch.Watch()
        for event in stream.stream(pods.list_namespaced_pod, NAMESPACE, timeout_seconds=240,
                                   field_selector=f"metadata.name={test_pod}"):  # fmt: skip
            seen.append(event["object"])
            if event["type"] == "DELETED":
                stream.stop()

    watcher = threading.Thread(target=watch_the_test_pod, daemon=True)
    watcher.start()
    time.sleep(1.0)  # the watch is open before the Pod exists
    output = release.helm("test", RELEASE, "-n", NAMESPACE, "--timeout", "180s")
    watcher.join(timeout=60)
    assert "Phase:          Succeeded" in output, output
    assert seen, "the test Pod was never seen"
    assert {p.spec.node_name for p in seen if p.spec.node_name} == {node_name(HUB)}
    exits = [
        s.state.terminated.exit_code
        for p in seen
        for s in p.status.container_statuses or []
        if s.state and s.state.terminated
    ]
    assert exits, "the test Pod's container was never seen terminated"
    assert set(exits) == {0}, exits
    assert seen[-1].status.phase == "Succeeded"
    assert not watcher.is_alive(), "the test Pod was not removed after it passed"


def _end(process: subprocess.Popen[bytes], *, after: float = 0) -> None:
    """Let ``process`` end by itself within ``after`` seconds, else stop it."""
    try:
        process.wait(timeout=after or 0.01)
    except subprocess.TimeoutExpired:
        process.terminate()
        process.wait(timeout=10)


def test_a_deleted_leader_pod_is_replaced_within_the_lease_and_the_move_completes(
    release: Release, tmp_path: Path
) -> None:
    """The leader Pod deleted mid-move (`kubectl delete pod`: SIGTERM, as in a drain): it hands
    the Lease over, another replica holds it inside the lease duration and finishes the move;
    the Deployment brings the release back to two. (The deleted leader's log is followed to
    show on a failure: the kubelet may drop its last lines with the Pod.)"""
    stage = release.stage
    _place(stage, "helm-failover", ready_after="20s")
    before = release.lease()
    followers = {p.metadata.name for p in release.ready_pods()} - {before.holder}
    made = _move(stage, "helm-failover")
    wait_for(lambda: _phase(stage, "helm-failover-move") in MID_FLIGHT, timeout=60, interval=0.2,
             what="the move mid-flight")  # fmt: skip
    last_words = tmp_path / "leader.log"
    with last_words.open("wb") as sink:  # the deleted leader's log, to its end
        follow = subprocess.Popen(
            [str(locate_binaries(None).path("kubectl")), "--kubeconfig",
             str(stage.fleet.kubeconfig(HUB)), "logs", "-f", "-n", NAMESPACE, before.holder],
            stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        time.sleep(1.0)
        stage.fleet.kubectl(HUB, "delete", "pod", "-n", NAMESPACE, before.holder, "--wait=false")
        deleted_at = datetime.now(UTC)
        taken: LeaseRecord = wait_for(
            lambda: (
                lease
                if (lease := release.leases.read())
                and lease.holder
                and lease.holder != before.holder
                else None
            ),
            timeout=LEASE * 4,
            interval=0.2,
            what="another replica to hold the Lease",
        )
    except AssertionError:
        _end(follow)
        pods = {p.metadata.name: p.status.phase for p in release.pods()}
        raise AssertionError(
            f"Lease {release.leases.read()}; pods {pods}; the leader's log:\n"
            f"{last_words.read_text(errors='replace')[-4000:]}"
        ) from None
    _end(follow, after=60)  # the stream ends with the deleted leader's container
    assert taken.acquire_time is not None
    took = (taken.acquire_time - deleted_at).total_seconds()
    who = "the follower" if taken.holder in followers else "the Pod that replaced it"
    print(f"\nleader Pod deleted mid-move: {who}, {taken.holder}, led {took:.1f} s later "
          f"(lease {LEASE} s)", file=sys.stderr)  # fmt: skip
    assert took < LEASE, took  # before the claim could lapse: the deleted leader released it
    assert taken.transitions == before.transitions + 1
    _assert_completed_once(stage, made, "helm-failover")
    assert f"migration={WORKLOADS}/helm-failover-move entered phase=Completed" in release.logs(
        taken.holder
    )
    wait_for(lambda: len(release.ready_pods()) == 2, timeout=BOOT, what="two replicas again")


def test_an_upgrade_to_a_new_image_tag_during_moves_loses_and_repeats_none(
    release: Release,
) -> None:
    """`helm upgrade` to a new tag while two moves warm up: the Pods roll, the leader changes
    mid-move, both moves complete, each recorded once, and both replicas run the new tag."""
    stage = release.stage
    names = list(UPGRADED)  # created by the fixture; they load for a minute, longer than a roll
    for name in names:
        wait_placed(stage, name, SOURCE, 2, timeout=240, namespace=WORKLOADS)
    before = release.lease()
    made = [_move(stage, name) for name in names]
    wait_for(lambda: all(_phase(stage, m["metadata"]["name"]) in MID_FLIGHT for m in made),
             timeout=60, interval=0.2, what="both moves mid-flight")  # fmt: skip
    started = time.monotonic()
    tag = release.next_image.rsplit(":", 1)[1]
    release.helm("upgrade", RELEASE, str(CHART), "-n", NAMESPACE, "--reuse-values",
                 "--set", f"image.tag={tag}", "--wait", "--timeout", f"{BOOT:.0f}s")  # fmt: skip
    rolled = time.monotonic() - started
    for one, name in zip(made, names, strict=True):
        _assert_completed_once(stage, one, name)
    wait_for(lambda: len(release.ready_pods()) == 2 and len(release.pods()) == 2, timeout=BOOT,
             what="the upgraded release settled")  # fmt: skip
    pods = release.ready_pods()
    assert {p.spec.containers[0].image for p in pods} == {release.next_image}
    after = release.lease()
    assert after.holder in {p.metadata.name for p in pods}
    assert after.transitions > before.transitions
    assert after.acquire_time is not None
    completed = [
        datetime.fromisoformat(
            stage.hub.get("migrations", m["metadata"]["name"], WORKLOADS)["status"]["phaseTimes"][
                "completed"
            ]
        )
        for m in made
    ]
    print(f"\nhelm upgrade --wait during two moves: rolled in {rolled:.1f} s; the leader "
          f"changed {after.transitions - before.transitions} time(s), last at "
          f"{after.acquire_time:%H:%M:%S}; moves completed at "
          f"{', '.join(f'{c:%H:%M:%S}' for c in completed)}", file=sys.stderr)  # fmt: skip
    assert max(completed) > after.acquire_time, "no move was finished by the new leader"
    migrations = stage.objects.list_namespaced_custom_object(
        GROUP, VERSION, WORKLOADS, "migrations"
    )["items"]
    for name in names:
        mine = [m["metadata"]["name"] for m in migrations if m["spec"]["workload"] == name]
        assert mine == [f"{name}-move"]
    history = json.loads(release.helm("history", RELEASE, "-n", NAMESPACE, "-o", "json"))
    assert [h["status"] for h in history] == ["superseded", "deployed"]


def test_uninstall_leaves_the_crds_and_the_ledger_and_notes_say_so(release: Release) -> None:
    """`helm uninstall` removes the operator; the CRDs, the gridshift objects and every ledger
    row stay as they were, as the NOTES of the install said they would."""
    stage = release.stage
    assert UNINSTALL_NOTE in release.notes, release.notes
    assert "never touches the ledger database" in " ".join(release.notes.split())
    engine = make_engine(stage.database_url)
    count = "SELECT (SELECT count(*) FROM migrations), (SELECT count(*) FROM migration_phases)"
    try:
        with session_factory(engine).begin() as session:
            rows_before = tuple(session.execute(text(count)).one())
        migrations_before = {
            m["metadata"]["uid"]
            for m in stage.objects.list_namespaced_custom_object(
                GROUP, VERSION, WORKLOADS, "migrations"
            )["items"]
        }
        release.helm("uninstall", RELEASE, "-n", NAMESPACE, "--wait", "--timeout", "180s")
        assert release.pods() == []
        deployments = apps(stage.fleet.kubeconfig(HUB)).list_namespaced_deployment(
            NAMESPACE, label_selector=f"app.kubernetes.io/instance={RELEASE}"
        )
        assert deployments.items == []
        api = client.ApiextensionsV1Api(stage.hub.api)
        for kind in KINDS:
            crd = api.read_custom_resource_definition(f"{kind.plural}.{GROUP}")
            assert crd.metadata.deletion_timestamp is None
        migrations_after = {
            m["metadata"]["uid"]
            for m in stage.objects.list_namespaced_custom_object(
                GROUP, VERSION, WORKLOADS, "migrations"
            )["items"]
        }
        assert migrations_after == migrations_before
        assert migrations_before, "the module's moves left no Migration to keep"
        with session_factory(engine).begin() as session:
            assert tuple(session.execute(text(count)).one()) == rows_before
    finally:
        engine.dispose()

"""Two replicas: one leads, both serve the webhook; a killed leader is replaced within the lease
and the moves it left finish; a SIGTERM'd leader hands over at once and exits 0."""

from __future__ import annotations

import re
import signal
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
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
from operator_process import NAMESPACE, Operator

from orchestrator.clusters.lease import LeaseClient, LeaseRecord
from orchestrator.ledger.db import make_engine, session_factory
from orchestrator.ledger.migration_repo import get_migration
from orchestrator.settings import Settings

LEASE = Settings.model_fields["lease_duration_seconds"].default
RETRY = Settings.model_fields["lease_retry_seconds"].default
SLACK = 10.0
"""Scheduling and API latency on a loaded machine, on top of the protocol's own bound."""
BOOT = 180.0
"""How long a `gridshift run` may take to start (imports, schema check) on a loaded machine."""
MID_FLIGHT = {"Provisioning", "WarmingUp", "ShiftingTraffic", "Draining", "Releasing"}
FORWARD = ["Pending", "Preflight", "Provisioning", "WarmingUp", "ShiftingTraffic", "Draining",
           "Releasing", "Completed"]  # fmt: skip


@dataclass
class Replicas:
    """The stage's operator (leading at the start) and a second replica (following)."""

    stage: Stage
    first: Operator
    second: Operator
    leases: LeaseClient

    def lease(self) -> LeaseRecord:
        found = self.leases.read()
        assert found is not None, "no leader Lease in the hub"
        return found

    def wait_leader(self, replica: Operator, *, timeout: float) -> LeaseRecord:
        found: LeaseRecord = wait_for(
            lambda: (lease if (lease := self.leases.read()) and lease.holder == replica.pod_name
                     else None),
            timeout=timeout,
            interval=0.2,
            what=f"{replica.pod_name} to hold the leader Lease",
        )  # fmt: skip
        return found


def _leading(replica: Operator) -> bool:
    return "leading replica=" in replica.log()


@pytest.fixture
def replicas(stage: Stage) -> Iterator[Replicas]:
    """A second `gridshift run` beside the stage's; afterwards the stage's leads alone again."""
    first = stage.operator
    leases = LeaseClient(stage.hub.api, namespace=NAMESPACE, name="gridshift-leader")
    logs = Path(tempfile.mkdtemp(prefix="second-replica-", dir=first.log_dir))
    second = Operator(first.kubeconfig, first.database_url, logs, env=dict(first.env))
    pair = Replicas(stage, first, second, leases)
    pair.wait_leader(first, timeout=BOOT)
    second.start()
    try:
        yield pair
    finally:
        if not first.alive():
            first.start()
        second.stop()  # SIGTERM: if it leads, it releases the Lease to the stage's operator
        pair.wait_leader(first, timeout=BOOT)
        wait_for(lambda: _leading(first), timeout=BOOT, what="the stage's operator to lead")


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _phases(stage: Stage, names: list[str]) -> list[str]:
    return [
        (stage.hub.get("migrations", n, MOVES) or {}).get("status", {}).get("phase", "Pending")
        for n in names
    ]


def _deployments(stage: Stage, cluster: str, name: str) -> list:  # type: ignore[type-arg]
    found = apps(stage.fleet.kubeconfig(cluster)).list_namespaced_deployment(
        MOVES, label_selector=f"gridshift.io/workload={name}"
    )
    return list(found.items)


def _delete_workload(stage: Stage, name: str) -> None:
    stage.objects.delete_namespaced_custom_object(
        "gridshift.io", "v1alpha1", MOVES, "inferenceworkloads", name
    )


def test_a_killed_leader_is_replaced_within_the_lease_and_its_moves_complete(
    replicas: Replicas,
) -> None:
    """SIGKILL the leader mid-way through five moves: the follower leads, all five complete."""
    stage, first, second = replicas.stage, replicas.first, replicas.second
    wait_for(lambda: _answers(second.webhook_port), timeout=BOOT, what="the follower's webhook")
    assert not _leading(second)  # serving, but not acting
    assert replicas.lease().holder == first.pod_name

    names = [f"failover-{i}" for i in range(5)]
    for name in names:
        create_workload(stage, workload(name, home="ningxia", ready_after="25s"))
    for name in names:
        wait_placed(stage, name, "ningxia", 2, timeout=120)
    created = [create_migration(stage, f"{n}-move", n, source="ningxia", target="hubei")
               for n in names]  # fmt: skip
    moves = [f"{n}-move" for n in names]
    wait_for(lambda: "WarmingUp" in (p := set(_phases(stage, moves))) and p <= MID_FLIGHT,
             timeout=90, interval=0.2, what="every move mid-flight")  # fmt: skip

    first.kill()
    killed_at = datetime.now(UTC)
    last = replicas.lease()  # the dead leader's last renewal: the Lease stays as it left it
    assert last.holder == first.pod_name
    assert last.renew_time is not None
    taken = replicas.wait_leader(second, timeout=LEASE + RETRY + 30)
    assert taken.acquire_time is not None
    # not before the dead leader's claim lapsed, and within the lease plus one retry
    assert taken.acquire_time >= last.renew_time + timedelta(seconds=LEASE)
    took = (taken.acquire_time - killed_at).total_seconds()
    assert took <= LEASE + RETRY + SLACK, took
    assert taken.transitions == last.transitions + 1

    for move, made, name in zip(moves, created, names, strict=True):
        status = wait_ended(stage, move, timeout=240)["status"]
        assert status["phase"] == "Completed", status
        assert status["deadlineMet"] is True
        assert status["durationSeconds"] < 180
        assert f"migration={MOVES}/{move} entered phase=Completed" in second.log()
        target = _deployments(stage, "hubei", name)
        assert len(target) == 1
        assert target[0].spec.replicas == 2
        assert target[0].status.ready_replicas == 2
        source = _deployments(stage, "ningxia", name)
        assert all(d.spec.replicas == 0 for d in source), [d.spec.replicas for d in source]
        engine = make_engine(stage.database_url)
        try:
            with session_factory(engine).begin() as session:
                record = get_migration(session, made["metadata"]["uid"])
                assert record is not None
                assert record.outcome == "Completed"
                assert record.deadline_met is True
                assert [p.phase for p in record.phases] == FORWARD
        finally:
            engine.dispose()
    for name in names:
        _delete_workload(stage, name)


def test_a_sigtermed_leader_hands_over_at_once_and_exits_zero(replicas: Replicas) -> None:
    """SIGTERM mid-move: the step finishes, the Lease is released, exit 0, the move completes."""
    stage, first, second = replicas.stage, replicas.first, replicas.second
    wait_for(lambda: _answers(second.webhook_port), timeout=BOOT, what="the follower's webhook")
    create_workload(stage, workload("handover", home="hubei", ready_after="20s"))
    wait_placed(stage, "handover", "hubei", 2, timeout=120)
    made = create_migration(stage, "handover-move", "handover", source="hubei", target="shanghai")
    wait_for(lambda: _phases(stage, ["handover-move"]) == ["WarmingUp"], timeout=60,
             interval=0.2, what="the move warming up")  # fmt: skip
    held = replicas.lease()
    assert held.holder == first.pod_name

    process = first.process
    assert process is not None
    process.send_signal(signal.SIGTERM)
    asked_at = time.monotonic()
    asked_wall = datetime.now(UTC)
    code = process.wait(timeout=60)
    exited_in = time.monotonic() - asked_at
    taken = replicas.wait_leader(second, timeout=LEASE + RETRY + 30)

    assert code == 0, first.log()[-3000:]
    log = first.log()
    assert f"released lease={NAMESPACE}/gridshift-leader holder={first.pod_name}" in log
    assert re.search(r"stopped daemons=[1-9]\d* after their current step; cancelled=0", log)
    assert exited_in < LEASE
    assert taken.acquire_time is not None
    # handed over, not expired: long before the released claim would have lapsed
    assert taken.acquire_time < held.renew_time + timedelta(seconds=LEASE)  # type: ignore[operator]
    assert (taken.acquire_time - asked_wall).total_seconds() < LEASE

    status = wait_ended(stage, "handover-move", timeout=240)["status"]
    assert status["phase"] == "Completed", status
    assert status["deadlineMet"] is True
    assert "migration=moves/handover-move entered phase=Completed" in second.log()
    engine = make_engine(stage.database_url)
    try:
        with session_factory(engine).begin() as session:
            record = get_migration(session, made["metadata"]["uid"])
            assert record is not None
            assert [p.phase for p in record.phases] == FORWARD
    finally:
        engine.dispose()
    _delete_workload(stage, "handover")

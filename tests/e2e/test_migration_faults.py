"""Moves that go wrong: a model that never loads, a province that goes dark, an operator that
crashes in every phase, a ledger that is away. None loses replicas, state or a ledger row."""

from __future__ import annotations

import time
from collections.abc import Iterator

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
from kubernetes.client.exceptions import ApiException

from orchestrator.devenv import LocalPostgres
from orchestrator.ledger.db import make_engine, session_factory
from orchestrator.ledger.migration_repo import get_migration

CRASH_PHASES = [
    "Preflight",
    "Provisioning",
    "WarmingUp",
    "ShiftingTraffic",
    "Draining",
    "Releasing",
]


def _ledger(stage: Stage, uid: str):  # type: ignore[no-untyped-def]
    engine = make_engine(stage.database_url)
    try:
        with session_factory(engine).begin() as session:
            return get_migration(session, uid)
    finally:
        engine.dispose()


def _target_deployment_exists(stage: Stage, cluster: str, name: str) -> bool:
    try:
        apps(stage.fleet.kubeconfig(cluster)).read_namespaced_deployment(name, MOVES)
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


def _annotations(stage: Stage, cluster: str, name: str) -> dict[str, str]:
    found = apps(stage.fleet.kubeconfig(cluster)).read_namespaced_deployment(name, MOVES)
    return dict(found.spec.template.metadata.annotations or {})


def _delete_workload(stage: Stage, name: str) -> None:
    stage.objects.delete_namespaced_custom_object(
        "gridshift.io", "v1alpha1", MOVES, "inferenceworkloads", name
    )


def test_a_target_that_never_gets_ready_rolls_back_before_the_deadline(stage: Stage) -> None:
    """Never-ready model: RolledBack in time, source keeps its replicas, no target Deployment."""
    create_workload(stage, workload("never", home="ningxia", ready_after=None))
    wait_placed(stage, "never", "ningxia", 2)
    # the target's copy gets the never-ready annotation: the model fails to load there only
    stage.objects.patch_namespaced_custom_object(
        "gridshift.io", "v1alpha1", MOVES, "inferenceworkloads", "never",
        {"spec": {"template": {"template": {"metadata": {"annotations": {
            "sim.gridshift.io/never-ready": "true"}}}}}},
    )  # fmt: skip
    wait_for(
        lambda: _annotations(stage, "ningxia", "never").get("sim.gridshift.io/never-ready"),
        timeout=30,
        what="the template change rolled out at home",
    )
    # at home, the rollout keeps the old ready pods until the new ones are ready: it stays at 2
    created = create_migration(stage, "never-to-hubei", "never", source="ningxia", target="hubei",
                               deadline=45)  # fmt: skip
    ended = wait_ended(stage, "never-to-hubei", timeout=120)["status"]
    assert ended["phase"] == "RolledBack", ended
    finished = ended["phaseTimes"]["rolledBack"]
    assert finished <= ended["deadline"], (finished, ended["deadline"])
    assert "DeadlineExceeded" in str(ended["conditions"])
    assert not _target_deployment_exists(stage, "hubei", "never")
    source = apps(stage.fleet.kubeconfig("ningxia")).read_namespaced_deployment("never", MOVES)
    assert source.spec.replicas == 2
    assert (source.status.ready_replicas or 0) >= 2
    record = _ledger(stage, created["metadata"]["uid"])
    assert record is not None
    assert record.outcome == "RolledBack"
    assert record.deadline_met is False
    _delete_workload(stage, "never")


def test_target_going_dark_during_warm_up_rolls_back_and_leaves_no_orphan(stage: Stage) -> None:
    """Target API server stopped while warming up: rollback, source intact, no orphan later."""
    create_workload(stage, workload("dark", home="shanghai", ready_after="40s"))
    wait_placed(stage, "dark", "shanghai", 2, timeout=120)
    create_migration(stage, "dark-to-ningxia", "dark", source="shanghai", target="ningxia",
                     deadline=120)  # fmt: skip
    wait_for(
        lambda: (stage.hub.get("migrations", "dark-to-ningxia", MOVES) or {})
        .get("status", {}).get("phase") == "WarmingUp",
        timeout=60, what="the move to reach WarmingUp",
    )  # fmt: skip
    stage.fleet.stop_apiserver("ningxia")
    try:
        ended = wait_ended(stage, "dark-to-ningxia", timeout=150)["status"]
    finally:
        stage.fleet.start_apiserver("ningxia")
    assert ended["phase"] == "RolledBack", ended
    assert "TargetUnreachable" in str(ended["conditions"]) or "DeadlineExceeded" in str(
        ended["conditions"]
    )
    source = apps(stage.fleet.kubeconfig("shanghai")).read_namespaced_deployment("dark", MOVES)
    assert source.spec.replicas == 2
    wait_for(
        lambda: not _target_deployment_exists(stage, "ningxia", "dark"),
        timeout=90,
        what="the orphan in ningxia to be removed once it answers again",
    )
    _delete_workload(stage, "dark")


@pytest.fixture
def paused_operator(stage: Stage) -> Iterator[Stage]:
    """The operator, restarted with a 3 s pause in every phase (fault injection)."""
    stage.operator.stop()
    settings = dict(stage.operator.env)  # the edge's settings among them: kept as they were
    pause = ",".join(f"{p}=3" for p in CRASH_PHASES)
    stage.operator.env = {**settings, "GRIDSHIFT_FAULT_PAUSE_SECONDS": pause}
    stage.operator.start()
    try:
        yield stage
    finally:
        stage.operator.stop()
        stage.operator.env = settings
        stage.operator.start()


def _phases(stage: Stage, names: list[str]) -> list[str]:
    return [
        (stage.hub.get("migrations", n, MOVES) or {}).get("status", {}).get("phase", "Pending")
        for n in names
    ]


def test_operator_killed_in_every_phase_finishes_every_move(paused_operator: Stage) -> None:
    """SIGKILL in each of the six phases: fresh processes finish all moves, one ledger row each."""
    stage = paused_operator
    names = [f"crash-{i}" for i in range(3)]
    for name in names:
        create_workload(stage, workload(name, home="hubei", ready_after="2s", drain_seconds=1))
    for name in names:
        wait_placed(stage, name, "hubei", 2)
    created = [create_migration(stage, f"{n}-move", n, source="hubei", target="shanghai")
               for n in names]  # fmt: skip
    moves = [f"{n}-move" for n in names]
    killed_in = []
    for phase in CRASH_PHASES:
        wait_for(lambda p=phase: set(_phases(stage, moves)) == {p}, timeout=90, interval=0.1,
                 what=f"every move in {phase}")  # fmt: skip
        stage.operator.kill()
        killed_in.append(set(_phases(stage, moves)))  # what the next process resumes from
        time.sleep(0.5)
        stage.operator.start()
    assert killed_in == [{p} for p in CRASH_PHASES]
    for move, made in zip(moves, created, strict=True):
        ended = wait_ended(stage, move, timeout=180)["status"]
        assert ended["phase"] == "Completed", ended
        record = _ledger(stage, made["metadata"]["uid"])
        assert record is not None
        assert record.outcome == "Completed"
        assert [p.phase for p in record.phases] == ["Pending", *CRASH_PHASES, "Completed"]
    for name in names:
        source = apps(stage.fleet.kubeconfig("hubei")).read_namespaced_deployment(name, MOVES)
        assert source.spec.replicas == 0
        _delete_workload(stage, name)


def test_a_ledger_outage_delays_the_rows_and_loses_none(
    stage: Stage, local_postgres: LocalPostgres | None
) -> None:
    """PostgreSQL stopped for 20 s during 10 moves: all complete, all 10 rows appear after."""
    if local_postgres is None:
        pytest.skip("GRIDSHIFT_DATABASE_URL points at a database this test cannot stop")
    names = [f"ledger-{i}" for i in range(10)]
    for name in names:
        create_workload(stage, workload(name, home="ningxia", replicas=1, ready_after="15s"))
    for name in names:
        wait_placed(stage, name, "ningxia", 1)
    created = [create_migration(stage, f"{n}-move", n, source="ningxia", target="hubei")
               for n in names]  # fmt: skip
    wait_for(lambda: all(p == "WarmingUp" for p in _phases(stage, [f"{n}-move" for n in names])),
             timeout=60, what="every move warming up")  # fmt: skip
    local_postgres.stop(remove=False)
    try:
        time.sleep(20)
        during = _phases(stage, [f"{n}-move" for n in names])
    finally:
        local_postgres.start()
    assert "Completed" in during  # moves went on without the ledger
    for name, made in zip(names, created, strict=True):
        ended = wait_ended(stage, f"{name}-move", timeout=120)["status"]
        assert ended["phase"] == "Completed"
        record = _ledger(stage, made["metadata"]["uid"])
        assert record is not None
        assert record.outcome == "Completed"
        assert {p.phase for p in record.phases} >= {"Preflight", "WarmingUp", "Completed"}
        assert all(p.finished_at is not None for p in record.phases)
    for name in names:
        _delete_workload(stage, name)

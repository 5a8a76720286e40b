"""Real pods, real requests: a model server keeps answering its users while it moves.

Each test places a model-server stand-in on the fleet's real nodes (Shanghai), sends a steady,
bounded mix of requests through the edge (Traefik on loopback, then each province through its
WAN proxy), and moves it towards Hubei: a move that completes, a target that never becomes
ready, and a target province that goes dark while traffic shifts. Every request's answer is
checked for completeness and correctness; the tests print who answered over time and the
latencies before, during and after the move.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import httpx
import pytest
from conftest import MOVES, Stage, create_migration, wait_ended
from kube import wait_for

from orchestrator.api.common import GROUP, VERSION
from orchestrator.devenv.images import ensure_image
from orchestrator.devenv.loadgen import LoadPlan, LoadReport, run_load
from orchestrator.devenv.served import MODEL, host_name, served_workload
from orchestrator.migration import workloads

pytestmark = pytest.mark.timeout(600)

SOURCE, TARGET = "shanghai", "hubei"
T = TypeVar("T")


@pytest.fixture(scope="module")
def image(stage: Stage) -> str:
    """The model-server stand-in's image, as every real node of the fleet holds it."""
    return ensure_image("modelserver").ref


def _edge_url(stage: Stage) -> str:
    return stage.fleet.dataplane.edge_url


def _create(stage: Stage, body: dict[str, Any]) -> None:
    stage.objects.create_namespaced_custom_object(GROUP, VERSION, MOVES, "inferenceworkloads", body)


@pytest.fixture
def served(stage: Stage, image: str) -> Iterator[Callable[..., str]]:
    """Place a served workload (kwargs as served_workload) and wait until the edge answers for
    it from its home; delete what was placed afterwards."""
    made: list[str] = []

    def place(name: str, **kwargs: Any) -> str:
        _create(stage, served_workload(name, MOVES, image=kwargs.pop("image", image),
                                       home=SOURCE, **kwargs))  # fmt: skip
        made.append(name)
        wait_for(
            lambda: _answered_by(stage, name) == SOURCE,
            timeout=120,
            interval=1,
            what=f"{name} answering through the edge from {SOURCE}",
        )
        return name

    yield place
    for name in made:
        stage.objects.delete_namespaced_custom_object(
            GROUP, VERSION, MOVES, "inferenceworkloads", name
        )


def _answered_by(stage: Stage, name: str) -> str | None:
    try:
        answer = httpx.post(
            f"{_edge_url(stage)}/v1/completions",
            headers={"Host": host_name(MOVES, name)},
            json={"model": MODEL, "prompt": "ready?", "max_tokens": 1},
            timeout=5,
        )
    except httpx.HTTPError:
        return None
    return answer.headers.get("x-gridshift-cluster") if answer.status_code == 200 else None


def _plan(stage: Stage, name: str, seconds: float) -> LoadPlan:
    return LoadPlan(
        url=_edge_url(stage),
        host=host_name(MOVES, name),
        model=MODEL,
        rate_per_second=20,
        seconds=seconds,
        stream_share=1 / 3,
        stream_seconds=(5, 20),
        tokens_per_second=20,
        short_tokens=2,
    )


def _under_load(plan: LoadPlan, during: Callable[[], T]) -> tuple[LoadReport, T]:
    """Run ``during`` while the load runs in a thread of its own; both results."""
    done: dict[str, LoadReport] = {}
    thread = threading.Thread(target=lambda: done.setdefault("report", asyncio.run(run_load(plan))))
    thread.start()
    try:
        result = during()
    finally:
        thread.join(timeout=plan.seconds + plan.timeout_seconds + 30)
    assert "report" in done, "the load generator did not finish"
    return done["report"], result


def _route_weights(stage: Stage, name: str) -> dict[str, int]:
    route: Any = stage.objects.get_namespaced_custom_object(
        "gateway.networking.k8s.io", "v1", MOVES, "httproutes", name
    )
    refs = route["spec"]["rules"][0]["backendRefs"]
    return {str(r["name"]).removeprefix(f"{name}-"): int(r.get("weight", 1)) for r in refs}


def _move(
    stage: Stage, migration: str, name: str, *, after: float, deadline: int = 180
) -> tuple[dict[str, Any], tuple[float, float]]:
    time.sleep(after)
    started = time.monotonic()
    create_migration(stage, migration, name, source=SOURCE, target=TARGET, deadline=deadline)
    ended = wait_ended(stage, migration, timeout=240)
    return ended, (started, time.monotonic())


def test_a_move_under_load_answers_every_request_completely(
    stage: Stage, served: Callable[..., str]
) -> None:
    """Shanghai -> Hubei with 20 requests/s, a third streaming for 5-20 s: 0 failed, 0
    truncated; answers shift from Shanghai to Hubei as the weights step; Completed in time."""
    name = served("chat")
    report, (ended, window) = _under_load(
        _plan(stage, name, seconds=75), lambda: _move(stage, "chat-east", name, after=10)
    )
    print(f"\nmove {ended['status']['phase']} in {ended['status'].get('durationSeconds')} s")
    print(report.render(window))
    status = ended["status"]
    assert status["phase"] == "Completed", status.get("message")
    assert status["deadlineMet"] is True
    assert report.count("failed") == 0, report.render(window)
    assert report.count("truncated") == 0, report.render(window)
    assert report.count("ok", stream=True) >= 0.25 * len(report.results)
    clusters = report.by_cluster()
    assert clusters[SOURCE] > 0
    assert clusters[TARGET] > 0
    last = [r for r in report.results if r.started > window[1] + 5]
    assert last
    assert all(r.cluster == TARGET for r in last)


def test_a_target_that_never_becomes_ready_rolls_back_without_a_failed_request(
    stage: Stage, served: Callable[..., str], image: str
) -> None:
    """The model server's image exists in Shanghai only, so Hubei never becomes ready: the
    move rolls back inside its deadline, no weight ever goes to Hubei, and every request is
    answered (by Shanghai)."""
    node = stage.fleet.real_node(SOURCE)
    assert node is not None
    only_here = image.rsplit(":", 1)[0] + ":shanghai-only"
    if only_here not in node.runtime.images():
        node.runtime.ctr("images", "tag", image, only_here)
    name = served("lonely", image=only_here)
    seen: list[dict[str, int]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            seen.append(_route_weights(stage, name))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        report, (ended, window) = _under_load(
            _plan(stage, name, seconds=75),
            lambda: _move(stage, "lonely-east", name, after=5, deadline=60),
        )
    finally:
        stop.set()
        sampler.join(timeout=10)
    print(f"\nmove {ended['status']['phase']}: {ended['status'].get('message')}")
    print(report.render(window))
    status = ended["status"]
    assert status["phase"] == "RolledBack"
    assert status["durationSeconds"] <= 60
    assert report.count("failed") == 0, report.render(window)
    assert report.count("truncated") == 0, report.render(window)
    assert set(report.by_cluster()) == {SOURCE}
    assert seen
    assert all(weights.get(TARGET, 0) == 0 for weights in seen), seen
    wait_for(
        lambda: stage.fleet.kubectl(TARGET, "get", "deployments", "-n", MOVES, "-l",
                                    f"{workloads.WORKLOAD}={name}", "-o", "name").strip() == "",
        timeout=60, what="nothing of the move left in Hubei",
    )  # fmt: skip


def test_a_province_that_goes_dark_while_traffic_shifts_is_rolled_back(
    stage: Stage, served: Callable[..., str]
) -> None:
    """Hubei's network is cut once it has traffic: the move rolls back at once. The requests
    that had been routed there fail (they are counted and shown); every request that starts
    once the rollback is done is answered."""
    name = served("dark")
    province = stage.fleet.province(TARGET)
    cut: dict[str, float] = {}

    def move_and_cut() -> tuple[dict[str, Any], tuple[float, float]]:
        time.sleep(5)
        started = time.monotonic()
        create_migration(stage, "dark-east", name, source=SOURCE, target=TARGET)
        wait_for(
            lambda: (stage.hub.get("migrations", "dark-east", MOVES) or {})
            .get("status", {}).get("trafficPercent", 0) > 0,
            timeout=120, interval=0.2, what="traffic on the target",
        )  # fmt: skip
        province.cut()
        cut["at"] = time.monotonic()
        try:
            ended = wait_ended(stage, "dark-east", timeout=180)
        finally:
            province.restore()
        return ended, (started, time.monotonic())

    report, (ended, window) = _under_load(_plan(stage, name, seconds=80), move_and_cut)
    status = ended["status"]
    rolled_back = time.monotonic() if status.get("completionTime") is None else window[1]
    print(f"\nmove {status['phase']} ({status.get('message')})")
    print(report.render(window))
    failed = report.failures
    after_cut = [r for r in failed if r.started >= cut["at"] - 25]  # streams already running
    print(
        f"users saw {len(failed)} failed or cut requests, all between "
        f"{min((r.started for r in failed), default=0) - cut['at']:+.1f} s and "
        f"{max((r.started for r in failed), default=0) - cut['at']:+.1f} s of the cut "
        f"(rollback done {rolled_back - cut['at']:.1f} s after it)"
    )
    assert status["phase"] == "RolledBack"
    assert len(after_cut) == len(failed)
    late = [r for r in report.results if r.started > window[1] + 3 and r.outcome != "ok"]
    assert late == [], [r.detail for r in late]
    assert len(failed) < 0.25 * len(report.results)
    wait_for(
        lambda: stage.fleet.kubectl(TARGET, "get", "deployments", "-n", MOVES, "-l",
                                    f"{workloads.WORKLOAD}={name}", "-o", "name").strip() == "",
        timeout=120, what="Hubei back, and the move's leftovers there removed",
    )  # fmt: skip

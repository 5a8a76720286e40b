"""The demo's users: a bounded, steady load on the workload that serves for real, counted live.

With real nodes the demo places one model-server stand-in (:func:`~served.served_workload`) at
home in Shanghai beside the simulated fleet, and while the day plays sends it a steady mix of
requests through the edge (:mod:`.loadgen`: a few a second, a third of them streams, every answer
checked). :class:`LiveTraffic` runs that load in a thread of its own and counts each answer as
it ends: by the cluster that answered, failed and cut apart. The live view shows the counts; at
the end :meth:`LiveTraffic.summary` says how many requests were answered and how many failed
while a move was in flight. The load stops by itself after its planned count, or earlier when
the demo is over.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from orchestrator.devenv.demo_scenario import HOME, ZONE_IDS, Scenario
from orchestrator.devenv.demo_state import MigrationState, TrafficCounts, TrafficSummary
from orchestrator.devenv.fleet import Fleet
from orchestrator.devenv.images import ensure_image
from orchestrator.devenv.loadgen import CLUSTER_HEADER, LoadPlan, Result, run_load
from orchestrator.devenv.served import MODEL, host_name, served_workload
from orchestrator.errors import DevEnvError

RATE_PER_SECOND = 4.0
"""Requests a second: enough to see every weight step, light on a 2-core machine."""
JOIN_SECONDS = 90.0
"""How long the end of the demo waits for the answers still streaming."""


@dataclass(frozen=True)
class _Seen:
    started: datetime
    ended: datetime
    result: Result


class LiveTraffic:
    """A bounded load on one served workload through the edge, counted as answers arrive."""

    def __init__(self, workload: str, plan: LoadPlan) -> None:
        self.workload = workload
        self.plan = plan
        self._lock = threading.Lock()
        self._seen: list[_Seen] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: Exception | None = None
        self._wall0 = datetime.now(UTC)
        self._mono0 = time.monotonic()

    def answering(self, timeout: float) -> str | None:
        """Wait until the edge answers for the workload; the cluster that answered (None when
        it did not within ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                answer = httpx.post(
                    f"{self.plan.url}/v1/completions",
                    headers={"Host": self.plan.host},
                    json={"model": MODEL, "prompt": "ready?", "max_tokens": 1},
                    timeout=5,
                )
                if answer.status_code == 200:
                    return str(answer.headers.get(CLUSTER_HEADER, "-"))
            except httpx.HTTPError:
                pass
            time.sleep(1)
        return None

    def start(self) -> None:
        self._wall0, self._mono0 = datetime.now(UTC), time.monotonic()
        self._thread = threading.Thread(target=self._run, name="demo-traffic", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            asyncio.run(run_load(self.plan, on_result=self._add, stop=self._stop))
        except Exception as exc:  # reported by stop(), never swallowed
            self._error = exc

    def _at(self, monotonic: float) -> datetime:
        return self._wall0 + timedelta(seconds=monotonic - self._mono0)

    def _add(self, result: Result) -> None:
        seen = _Seen(self._at(result.started), self._at(result.ended), result)
        with self._lock:
            self._seen.append(seen)

    def counts(self) -> TrafficCounts:
        with self._lock:
            results = [s.result for s in self._seen]
        return TrafficCounts(
            workload=self.workload,
            answered=Counter(r.cluster or "-" for r in results if r.outcome == "ok"),
            failed=sum(1 for r in results if r.outcome == "failed"),
            cut=sum(1 for r in results if r.outcome == "truncated"),
        )

    def stop(self) -> None:
        """Send no more; wait for the answers in flight (bounded)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=JOIN_SECONDS + self.plan.timeout_seconds)
        if self._error is not None:
            raise RuntimeError(f"the demo's load generator failed: {self._error!r}")

    def summary(self, windows: Sequence[tuple[datetime, datetime]]) -> TrafficSummary:
        """The whole run, and the requests in flight during any of the move ``windows``."""
        with self._lock:
            seen = list(self._seen)
        during = [s for s in seen if any(s.started < end and s.ended > begin
                                         for begin, end in windows)]  # fmt: skip
        failures = [
            f"{s.result.outcome}: {s.result.detail}" for s in seen if s.result.outcome != "ok"
        ]
        return TrafficSummary(
            counts=self.counts(),
            moves=len(windows),
            answered_during_moves=sum(1 for s in during if s.result.outcome == "ok"),
            failed_during_moves=sum(1 for s in during if s.result.outcome != "ok"),
            failures=tuple(failures[:3]),
        )


def live_plan(edge_url: str, host: str, seconds: float) -> LoadPlan:
    """The demo's mix: a third streams of 5-20 s at the stand-in's 20 tokens/s."""
    return LoadPlan(
        url=edge_url,
        host=host,
        model=MODEL,
        rate_per_second=RATE_PER_SECOND,
        seconds=seconds,
        stream_share=1 / 3,
        stream_seconds=(5, 20),
        tokens_per_second=20,
        short_tokens=2,
    )


def serves_for_real(fleet: Fleet, scenario: Scenario) -> bool:
    """Whether the demo places its live workload: the scenario has one and Shanghai and at
    least one other province have a real node."""
    real = [name for name in ZONE_IDS if fleet.real_node(name) is not None]
    return scenario.live is not None and HOME in real and len(real) > 1


def live_workload(scenario: Scenario, namespace: str) -> dict[str, Any]:
    """The model-server stand-in of the scenario, at home in Shanghai, flexible."""
    live = scenario.live
    if live is None:
        raise DevEnvError(f"the {scenario.name} scenario has no live workload")
    return served_workload(
        live.name,
        namespace,
        image=ensure_image("modelserver").ref,
        home=HOME,
        replicas=live.replicas,
        kw_per_replica=live.kw_per_replica,
        labels={"gridshift.io/flexible": "true", "app.kubernetes.io/name": live.name},
    )


def start_traffic(
    fleet: Fleet, scenario: Scenario, namespace: str, progress: Callable[[str], None]
) -> LiveTraffic | None:
    """Users' requests to the live workload through the edge, for the length of the day and
    the settling after it (None on a fleet without real nodes)."""
    if scenario.live is None or not serves_for_real(fleet, scenario):
        return None
    name = scenario.live.name
    seconds = scenario.clock.real_seconds + scenario.settle_seconds
    plan = live_plan(fleet.dataplane.edge_url, host_name(namespace, name), seconds)
    traffic = LiveTraffic(f"{namespace}/{name}", plan)
    if traffic.answering(timeout=120) is None:
        raise DevEnvError(f"the edge did not answer for {namespace}/{name} in 120 s")
    progress(
        f"sending {plan.rate_per_second:.0f} requests/s to {namespace}/{name} through "
        f"the edge ({plan.url}, Host: {plan.host}); a third stream for 5-20 s"
    )
    traffic.start()
    return traffic


def move_windows(moves: Sequence[MigrationState], now: datetime) -> list[tuple[datetime, datetime]]:
    """When each move was in flight (one still running: until ``now``)."""
    windows = []
    for m in moves:
        begin = m.started or m.created
        if begin is None:
            continue
        end = now if m.duration is None else begin + timedelta(seconds=m.duration)
        windows.append((begin, end))
    return windows

"""A bounded load generator for the model servers behind the fleet's edge, and what it saw.

:func:`run_load` sends requests at a steady rate for a fixed time, open loop (a slow answer never
slows the rate), a share of them streaming: OpenAI completions with ``stream: true`` for a
given number of seconds, the others short non-streaming ones. Every answer is checked against
the one correct answer (:mod:`orchestrator.devenv.modelserver.check`): a request counts as
**ok** only when its answer is complete and correct, **truncated** when a stream ended early or
broke, **failed** otherwise (an HTTP error, a refused or reset connection, a timeout). It never
retries: what a user would have seen is what is counted. The run is bounded by ``count`` and
``seconds`` and stops by itself; each request has its own timeout.

:class:`LoadReport` summarises the results: totals, the answering cluster per time slice (from
the ``X-Gridshift-Cluster`` header the model server sets), and latencies before, during and
after a window (a move).
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import httpx

from orchestrator.devenv.modelserver import check

CLUSTER_HEADER = "x-gridshift-cluster"


@dataclass(frozen=True)
class LoadPlan:
    """What to send: where, how fast, how long, and the mix."""

    url: str
    """The edge's base URL (``http://127.0.0.1:PORT``)."""
    host: str
    """The Host header: the workload's host name at the edge."""
    model: str
    rate_per_second: float = 20.0
    seconds: float = 60.0
    stream_share: float = 1 / 3
    stream_seconds: tuple[float, float] = (5.0, 20.0)
    tokens_per_second: float = 4.0
    """The model server's generation rate, to size streams in seconds."""
    short_tokens: int = 8
    timeout_seconds: float = 60.0
    seed: int = 7
    headers: tuple[tuple[str, str], ...] = ()
    """More headers on every request (e.g. the workload header, to bypass the edge)."""

    @property
    def count(self) -> int:
        return int(self.rate_per_second * self.seconds)


@dataclass(frozen=True)
class Result:
    """One request: when, how it ended, who answered, how long it took."""

    started: float
    ended: float
    stream: bool
    outcome: str  # "ok", "truncated", "failed"
    cluster: str | None
    first_byte: float | None
    detail: str = ""

    @property
    def latency(self) -> float:
        """Seconds to the first byte of the answer (time to first token for a stream)."""
        return (self.first_byte if self.first_byte is not None else self.ended) - self.started


def _percentile(values: Sequence[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


@dataclass
class LoadReport:
    """Everything one run saw."""

    plan: LoadPlan
    results: list[Result] = field(default_factory=list)
    t0: float = 0.0

    def count(self, outcome: str, *, stream: bool | None = None) -> int:
        return sum(
            1
            for r in self.results
            if r.outcome == outcome and (stream is None or r.stream == stream)
        )

    @property
    def failures(self) -> list[Result]:
        return [r for r in self.results if r.outcome != "ok"]

    def by_cluster(self) -> Counter[str]:
        return Counter(r.cluster or "-" for r in self.results if r.outcome == "ok")

    def timeline(self, slice_seconds: float = 5.0) -> list[tuple[float, Counter[str]]]:
        """Per time slice (seconds from the start): which cluster answered how many requests
        that started in it (failed ones count as ``failed``)."""
        slices: dict[int, Counter[str]] = {}
        for r in self.results:
            key = int((r.started - self.t0) // slice_seconds)
            label = r.cluster or "-" if r.outcome == "ok" else r.outcome
            slices.setdefault(key, Counter())[label] += 1
        return [(k * slice_seconds, slices[k]) for k in sorted(slices)]

    def latencies(
        self, *, start: float | None = None, end: float | None = None, stream: bool = False
    ) -> dict[str, float | None]:
        """p50/p99 latency of the ok requests that started in [start, end) (monotonic)."""
        picked = [
            r.latency
            for r in self.results
            if r.outcome == "ok"
            and r.stream == stream
            and (start is None or r.started >= start)
            and (end is None or r.started < end)
        ]
        return {
            "n": float(len(picked)),
            "p50": _percentile(picked, 0.5),
            "p99": _percentile(picked, 0.99),
        }

    def phases(self, window: tuple[float, float]) -> dict[str, dict[str, float | None]]:
        """Latencies of short requests before, during and after ``window`` (monotonic)."""
        start, end = window
        return {
            "before": self.latencies(end=start),
            "during": self.latencies(start=start, end=end),
            "after": self.latencies(start=end),
        }

    def render(self, window: tuple[float, float] | None = None) -> str:
        """A few lines a person reads in a test's output."""
        lines = [
            f"requests: {len(self.results)} sent at {self.plan.rate_per_second:g}/s for "
            f"{self.plan.seconds:g} s; ok {self.count('ok')}, truncated "
            f"{self.count('truncated')}, failed {self.count('failed')} "
            f"(streams: {self.count('ok', stream=True)} ok of "
            f"{sum(1 for r in self.results if r.stream)})",
            "answers by cluster: "
            + ", ".join(f"{c} {n}" for c, n in sorted(self.by_cluster().items())),
        ]
        for at, counts in self.timeline():
            shown = ", ".join(f"{c} {n}" for c, n in sorted(counts.items()))
            lines.append(f"  t+{at:5.0f} s: {shown}")
        if window is not None:
            for phase, figures in self.phases(window).items():
                p50, p99 = figures["p50"], figures["p99"]
                lines.append(
                    f"latency {phase:>6} the move: n={figures['n']:.0f} "
                    f"p50={_ms(p50)} p99={_ms(p99)}"
                )
        for r in self.failures[:10]:
            lines.append(f"  {r.outcome} at t+{r.started - self.t0:.1f} s: {r.detail}")
        return "\n".join(lines)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f} ms"


async def _one(
    http: httpx.AsyncClient, plan: LoadPlan, index: int, *, stream: bool, tokens: int
) -> Result:
    body: dict[str, object] = {
        "model": plan.model,
        "prompt": f"request {index} of the gridshift load generator",
        "max_tokens": tokens,
        "ignore_eos": True,
    }
    if stream:
        body["stream"] = True
    started = time.monotonic()
    first: float | None = None
    cluster: str | None = None
    headers = {"Host": plan.host, **dict(plan.headers)}
    try:
        if not stream:
            answer = await http.post("/v1/completions", json=body, headers=headers)
            first = time.monotonic()
            cluster = answer.headers.get(CLUSTER_HEADER)
            if answer.status_code != 200:
                return Result(
                    started, time.monotonic(), False, "failed", cluster, first,
                    f"HTTP {answer.status_code}: {answer.text[:120]}",
                )  # fmt: skip
            problems = check.problems_in_answer("completion", body, answer.json(), model=plan.model)
            outcome = "failed" if problems else "ok"
            return Result(
                started, time.monotonic(), False, outcome, cluster, first, "; ".join(problems)
            )
        events: list[str] = []
        async with http.stream("POST", "/v1/completions", json=body, headers=headers) as answer:
            cluster = answer.headers.get(CLUSTER_HEADER)
            if answer.status_code != 200:
                await answer.aread()
                return Result(
                    started, time.monotonic(), True, "failed", cluster, None,
                    f"HTTP {answer.status_code}: {answer.text[:120]}",
                )  # fmt: skip
            try:
                async for line in answer.aiter_lines():
                    if first is None:
                        first = time.monotonic()
                    if line.startswith("data:"):
                        events.append(line[5:].strip())
            except (httpx.HTTPError, json.JSONDecodeError) as exc:
                return Result(
                    started, time.monotonic(), True, "truncated", cluster, first,
                    f"stream broke after {len(events)} events: {exc!r}",
                )  # fmt: skip
        problems = check.problems_in_stream("completion", body, events, model=plan.model)
        outcome = "ok" if not problems else "truncated"
        return Result(started, time.monotonic(), True, outcome, cluster, first, "; ".join(problems))
    except httpx.HTTPError as exc:
        return Result(started, time.monotonic(), stream, "failed", cluster, first, repr(exc))


async def run_load(
    plan: LoadPlan,
    *,
    on_result: Callable[[Result], None] | None = None,
    stop: threading.Event | None = None,
) -> LoadReport:
    """Send ``plan.count`` requests at ``plan.rate_per_second`` (fewer when ``stop`` is set
    first); wait for every answer (each bounded by ``plan.timeout_seconds``); return the report."""
    rng = random.Random(plan.seed)  # noqa: S311 - a reproducible mix, not a secret
    report = LoadReport(plan)
    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=200)
    timeout = httpx.Timeout(plan.timeout_seconds, connect=5.0)
    async with httpx.AsyncClient(base_url=plan.url, limits=limits, timeout=timeout) as http:
        report.t0 = time.monotonic()
        tasks: list[asyncio.Task[Result]] = []
        for index in range(plan.count):
            due = report.t0 + index / plan.rate_per_second
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            if stop is not None and stop.is_set():
                break
            stream = rng.random() < plan.stream_share
            if stream:
                seconds = rng.uniform(*plan.stream_seconds)
                tokens = max(1, round(seconds * plan.tokens_per_second))
            else:
                tokens = plan.short_tokens
            task = asyncio.create_task(_one(http, plan, index, stream=stream, tokens=tokens))
            if on_result is not None:
                task.add_done_callback(lambda t: on_result(t.result()))
            tasks.append(task)
        report.results = list(await asyncio.gather(*tasks))
    return report

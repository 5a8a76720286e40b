"""How many signals per second the webhook records, and how fast it answers, on loopback.

    uv run python bench/signal_ingest.py [--rates 500,1000,2000,4000] [--seconds 10] [--batch 1]

Starts the webhook (``POST /v1/signals``) in its own process under uvicorn, over a real
PostgreSQL: ``GRIDSHIFT_DATABASE_URL``, or a server it starts with ``LocalPostgres`` (migrated
to head either way). Then, for each rate, sends peak-level signals open-loop at that rate for
``--seconds`` (``--batch`` signals per request, each with a fresh id), and prints the sustained
signals/s, the p50 / p99 latency of the answers, and the count of this run's rows in the ledger
next to the count the webhook acknowledged (they must be equal: nothing acknowledged is lost).
Stops early when a rate cannot be sustained. Every step is bounded in count and time. Figures,
not a pass/fail: the goal is at least 2,000 signals/s with p99 under 50 ms on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

TOKEN = "bench-token"  # noqa: S105  # a loopback-only bench credential
OPERATOR = "bench"
MAX_SECONDS_PER_RATE = 30
MAX_RATES = 8
MAX_IN_FLIGHT = 256


@dataclass(frozen=True)
class BenchZone:
    """The one zone the bench sends to."""

    name: str
    generation: int | None
    spec: object
    status: object = None


def serve(database_url: str, port: int) -> None:
    """The webhook over ``database_url`` on 127.0.0.1:``port`` (run in a child process)."""
    import uvicorn

    from orchestrator.api.gridzone import GridZoneSpec
    from orchestrator.ledger.handle import Ledger
    from orchestrator.signals.auth import Credentials, TokenStore
    from orchestrator.signals.directory import ZoneDirectory
    from orchestrator.signals.ingest import Ingestor
    from orchestrator.signals.webhook import create_app

    ingestor = Ingestor(
        ledger=Ledger(database_url),
        zones=ZoneDirectory(
            [BenchZone("bench", 1, GridZoneSpec.model_validate({"gridOperators": [OPERATOR]}))]
        ),  # type: ignore[list-item]
        tokens=TokenStore({OPERATOR: Credentials(TOKEN.encode())}),
        clock=lambda: datetime.now(UTC),
    )
    config = uvicorn.Config(
        create_app(ingestor),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
    )
    uvicorn.Server(config).run()


@dataclass
class Result:
    """One rate's outcome."""

    rate: int
    sent: int
    acknowledged: int
    failed: int
    seconds: float
    latencies: list[float]

    @property
    def sustained(self) -> float:
        return self.acknowledged / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def body(run: str, start: int, batch: int) -> bytes:
    """``batch`` peak-level signals with fresh ids."""
    signals = [
        {
            "type": "peakLevel",
            "id": f"{run}-{start + i}",
            "zone": "bench",
            "level": 2,
            "start": "2026-07-15T04:00:00Z",
            "end": "2026-07-15T05:00:00Z",
        }
        for i in range(batch)
    ]
    return json.dumps({"signals": signals}).encode()


async def load(url: str, run: str, *, rate: int, seconds: float, batch: int, first: int) -> Result:
    """Send ``rate`` signals/s for ``seconds``, open-loop; collect latencies and counts.

    Requests still unanswered ``MAX_SECONDS_PER_RATE`` after the start are abandoned and
    counted as failed (their outcome is unknown: the ledger may hold them).
    """
    requests = max(1, int(rate * seconds / batch))
    interval = batch / rate
    latencies: list[float] = []
    acknowledged = failed = 0
    gate = asyncio.Semaphore(MAX_IN_FLIGHT)
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=MAX_IN_FLIGHT, max_keepalive_connections=MAX_IN_FLIGHT)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=10) as http:

        async def one(index: int) -> None:
            nonlocal acknowledged, failed
            async with gate:
                payload = body(run, first + index * batch, batch)
                began = time.perf_counter()
                try:
                    answer = await http.post("/v1/signals", content=payload, headers=headers)
                except httpx.HTTPError:
                    failed += batch
                    return
                latencies.append(time.perf_counter() - began)
                if answer.status_code == 200:
                    done = answer.json()
                    acknowledged += done["accepted"] + done["duplicates"]
                else:
                    failed += batch

        started = time.perf_counter()
        tasks = []
        for index in range(requests):
            delay = started + index * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            elif -delay > seconds:
                break  # more than a whole period behind: this rate cannot be offered
            tasks.append(asyncio.create_task(one(index)))
        _, pending = await asyncio.wait(tasks, timeout=MAX_SECONDS_PER_RATE)
        for task in pending:
            task.cancel()
        unknown = len(pending) * batch
        took = time.perf_counter() - started
    return Result(rate, len(tasks) * batch, acknowledged, failed + unknown, took, latencies)


def ledger_rows(database_url: str, run: str) -> int:
    """This run's rows in the ledger."""
    from sqlalchemy import func, select

    from orchestrator.ledger.db import make_engine
    from orchestrator.ledger.models import GridSignal

    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            query = (
                select(func.count())
                .select_from(GridSignal)
                .where(
                    GridSignal.source == f"native:{OPERATOR}",
                    GridSignal.external_id.like(f"{run}-%"),
                )
            )
            return int(connection.execute(query).scalar_one())
    finally:
        engine.dispose()


def wait_ready(url: str, timeout: float = 30) -> None:
    """Wait until the webhook answers /healthz."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"the webhook at {url} did not start within {timeout:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--rates", default="50,100,200,400,800,1600,3200", help="signals/s, increasing"
    )
    parser.add_argument("--seconds", type=float, default=10, help="per rate (at most 30)")
    parser.add_argument("--batch", type=int, default=1, help="signals per request (1-500)")
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")][:MAX_RATES]
    seconds = min(args.seconds, MAX_SECONDS_PER_RATE)
    batch = min(max(args.batch, 1), 500)

    from orchestrator.devenv import LocalPostgres, procs
    from orchestrator.ledger.schema import upgrade_to_head

    database_url = os.environ.get("GRIDSHIFT_DATABASE_URL")
    postgres = None
    if not database_url:
        postgres = LocalPostgres.create().start()
        database_url = postgres.url
    upgrade_to_head(database_url)
    port = procs.free_port()
    server = multiprocessing.get_context("spawn").Process(
        target=serve, args=(database_url, port), daemon=True
    )
    server.start()
    url = f"http://127.0.0.1:{port}"
    run = uuid.uuid4().hex[:8]
    results: list[Result] = []
    try:
        wait_ready(url)
        print(
            f"webhook {url}, batch {batch} signal(s)/request, {seconds:.0f} s per rate, "
            f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
        )
        print(
            f"{'target/s':>9} {'sustained/s':>12} {'p50 ms':>8} {'p99 ms':>8} "
            f"{'acked':>8} {'failed':>7}"
        )
        warm = asyncio.run(load(url, run, rate=20, seconds=2, batch=batch, first=0))
        results.append(warm)
        print(f"warm-up: {warm.acknowledged} signals at 20/s (not reported below)")
        sent = warm.sent
        for rate in rates:
            result = asyncio.run(
                load(url, run, rate=rate, seconds=seconds, batch=batch, first=sent)
            )
            sent += result.sent
            results.append(result)
            print(
                f"{rate:>9} {result.sustained:>12.0f} {result.percentile(0.50):>8.1f} "
                f"{result.percentile(0.99):>8.1f} {result.acknowledged:>8} {result.failed:>7}",
                flush=True,
            )
            if result.failed or result.sustained < 0.9 * rate:
                print(f"stopped: {rate}/s was not sustained")
                break
        acknowledged = sum(r.acknowledged for r in results)
        failed = sum(r.failed for r in results)
        rows = ledger_rows(database_url, run)
        if rows == acknowledged:
            verdict = "equal"
        elif acknowledged < rows <= acknowledged + failed:
            verdict = (
                f"equal plus {rows - acknowledged} the client abandoned after committing "
                f"(of {failed} abandoned); nothing acknowledged is missing"
            )
        else:
            verdict = "DIFFERENT: acknowledged signals are missing"
        print(f"ledger rows {rows}, acknowledged {acknowledged}: {verdict}")
        measured = results[1:]
        kept = [r for r in measured if not r.failed and r.sustained >= 0.9 * r.rate]
        best = max(kept, key=lambda r: r.sustained, default=None)
        if best is not None:
            print(
                f"highest rate sustained: {best.sustained:.0f} signals/s at p50 "
                f"{best.percentile(0.5):.1f} ms, p99 {best.percentile(0.99):.1f} ms"
            )
    finally:
        server.terminate()
        server.join(timeout=10)
        if postgres is not None:
            postgres.stop()


if __name__ == "__main__":
    main()

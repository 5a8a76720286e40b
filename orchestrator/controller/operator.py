"""Running the operator process: leadership, the kopf handlers while leading, a graceful stop.

:func:`run` builds the process (:func:`orchestrator.controller.process.build`) in the asyncio
loop, serves its HTTP app and starts its signals on every replica, and runs its kopf handlers
(and through them the migrations and the planner) only while this replica holds the leader
Lease.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import kopf

from orchestrator import metrics
from orchestrator.clusters.lease import Leadership, LeadershipLost
from orchestrator.controller.process import build
from orchestrator.controller.web import server
from orchestrator.errors import ClusterError, LedgerError
from orchestrator.ledger.schema import upgrade_to_head
from orchestrator.settings import Settings

log = logging.getLogger(__name__)


def run(settings: Settings) -> None:
    """Run the operator until SIGTERM/SIGINT (then return: exit 0).

    Every replica serves the webhook at once; only the one holding the leader Lease runs the
    kopf handlers (and through them the migrations and the planner). SIGTERM stops them after
    each migration has finished the step it was applying, releases the Lease so a follower
    takes over at once, and returns. A leader that loses the Lease stops the handlers and
    raises :class:`LeadershipLost` (exit 1): the Deployment restarts it as a follower.
    """
    if settings.kubeconfig is not None:
        os.environ["KUBECONFIG"] = str(settings.kubeconfig)
    if settings.database_url is not None:
        try:
            upgrade_to_head(settings.database_url.get_secret_value())
        except LedgerError as exc:
            log.warning("ledger schema not upgraded at start (moves proceed; rows wait): %s", exc)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        # every Kubernetes and ledger call runs in a thread: size the pool for many moves at once
        loop.set_default_executor(ThreadPoolExecutor(max_workers=64, thread_name_prefix="io"))
        stopping = asyncio.Event()
        _take_signals(loop, stopping.set)
        ended = "stopped"
        async with httpx.AsyncClient() as http:
            process = build(settings, http=http)
            leadership = process.leadership
            await process.signals.start()
            web = server(
                process.webhook_app,
                settings,
                host=settings.webhook_host,
                port=settings.webhook_port,
            )
            api = server(process.api_app, settings, host=settings.api_host, port=settings.api_port)
            serving = [
                asyncio.create_task(web.serve(), name="webhook"),
                asyncio.create_task(api.serve(), name="api"),
            ]
            await leadership.start()
            log.info("started replica=%s; serving the webhook", leadership.identity)
            try:
                if await _first(leadership.wait_until_leader(), stopping.wait()) == 0:
                    ended = await _lead(
                        process.handlers, leadership, stopping=stopping, settings=settings
                    )
            finally:
                await process.signals.stop()
                # released before the webhook stops: a follower takes over at its next retry
                await leadership.stop(release=ended != "lost")
                web.should_exit = api.should_exit = True
                await asyncio.gather(*serving, return_exceptions=True)
        if ended == "lost":
            raise LeadershipLost(
                f"replica {leadership.identity} lost the leader Lease and stopped its "
                "controllers; it exits so that it restarts as a follower"
            )
        if ended == "ended":
            raise ClusterError("the controllers stopped on their own; see the log above")
        log.info("stopped replica=%s", leadership.identity)

    asyncio.run(main())


def _take_signals(loop: asyncio.AbstractEventLoop, stop: Callable[[], None]) -> None:
    """SIGTERM and SIGINT ask for a graceful stop; the process decides, not kopf."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)


async def _first(*waits: Coroutine[Any, Any, object]) -> int:
    """Wait for the first of ``waits`` to finish, cancel the others; return its index."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return next(i for i, task in enumerate(tasks) if task in done)


async def _lead(
    registry: kopf.OperatorRegistry,
    leadership: Leadership,
    *,
    stopping: asyncio.Event,
    settings: Settings,
) -> str:
    """Run the kopf handlers while leading; "stopped" (SIGTERM), "lost" or "ended"."""
    log.info("leading replica=%s; starting the controllers", leadership.identity)
    stop_flag = asyncio.Event()
    lost = asyncio.ensure_future(leadership.wait_until_lost())
    asked = asyncio.ensure_future(stopping.wait())
    for waiter in (lost, asked):
        waiter.add_done_callback(lambda _: stop_flag.set())

    def grace() -> float:
        # a lost leader must stop before a follower may start: inside the renew margin
        if lost.done():
            return min(settings.shutdown_grace_seconds, settings.lease_renew_seconds)
        return float(settings.shutdown_grace_seconds)

    metrics.set_leader(True)
    try:
        await _run_kopf(registry, stop_flag=stop_flag, grace=grace, on_signal=stopping.set)
    finally:
        metrics.set_leader(False)
        for waiter in (lost, asked):
            waiter.cancel()
        await asyncio.gather(lost, asked, return_exceptions=True)
    if leadership.lost:
        return "lost"
    return "stopped" if stopping.is_set() else "ended"


DAEMON_TASK_PREFIX = "runner of "
"""kopf names the task of each daemon (one per Migration) so; at a stop they get the grace."""
KOPF_LIFECYCLE_TASK = "startup/cleanup activities"
"""kopf's root task that runs the startup handlers first and the cleanup handlers last."""


async def _run_kopf(
    registry: kopf.OperatorRegistry,
    *,
    stop_flag: asyncio.Event,
    grace: Callable[[], float],
    on_signal: Callable[[], None],
) -> None:
    """``kopf.operator()``, with a stop that lets every migration finish its current step.

    kopf's own shutdown gives its spawned tasks 5 s and runs the cleanup handlers (which close
    the member clients) while daemons may still be applying a step. Here the order is: stop
    the watches, signal the daemons (a Move returns before starting its next step), wait up
    to ``grace()`` for them, cancel the late ones, then run the cleanup handlers.
    """
    loop = asyncio.get_running_loop()
    existing = asyncio.all_tasks()
    roots = await kopf.spawn_tasks(
        registry=registry, standalone=True, clusterwide=True, stop_flag=stop_flag
    )
    _take_signals(loop, on_signal)  # kopf installs its own handlers; ours decide
    done, pending = await asyncio.wait(roots, return_when=asyncio.FIRST_COMPLETED)
    daemons = {
        task
        for task in asyncio.all_tasks() - existing
        if task.get_name().startswith(DAEMON_TASK_PREFIX) and not task.done()
    }
    lifecycle = {task for task in pending if task.get_name() == KOPF_LIFECYCLE_TASK}
    await _cancel(pending - lifecycle)  # watches stop; every daemon is told to stop
    seconds = grace()
    late: set[asyncio.Task[Any]] = set()
    if running := {task for task in daemons if not task.done()}:
        _, late = await asyncio.wait(running, timeout=seconds)
        await _cancel(late)
    log.info(
        "stopped daemons=%d after their current step; cancelled=%d (grace %.0f s)",
        len(daemons) - len(late),
        len(late),
        seconds,
    )
    await _cancel(lifecycle)  # the cleanup handlers run now
    current = asyncio.current_task()
    leftover = {task for task in asyncio.all_tasks() - existing if task is not current}
    if leftover:
        _, late = await asyncio.wait(leftover, timeout=5.0)
        await _cancel(late)
    for task in done | lifecycle:
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]


async def _cancel(tasks: set[asyncio.Task[Any]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

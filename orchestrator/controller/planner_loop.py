"""The planner loop: gather a snapshot, run the pure planner, apply the plan.

It runs in the leader only (it starts with kopf's handlers, which run only in the leader). It
plans again when something relevant changes — a zone's price or peak level, a DemandResponse
event, a member cluster's capacity or reachability, a workload or policy, a Migration ending —
and every ``planner_interval_seconds`` anyway. Times the plan names in ``wake_at`` (a
pre-emptive move's start, the end of a dwell or hysteresis period) become APScheduler date
jobs with fixed ids; after a restart the first plan derives them again from the same state, so
none is lost.

Applying a plan: the decisions that start moves in the ledger first, then a Migration per intent
(not under a dryRun policy) with the reason — trigger, signal id, DemandResponseEvent, policy,
the ledger's decision id — in its spec (see :mod:`orchestrator.controller.decisions` for the
ledger being away); the other decisions; DemandResponseEvents' (also in the ledger) and
MigrationPolicies' status.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import kopf
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from pydantic import ValidationError

from orchestrator import metrics
from orchestrator.api.common import GROUP, VERSION
from orchestrator.api.migration import Reason, new_migration
from orchestrator.clusters.hub import HubClient
from orchestrator.clusters.kube import KubeError
from orchestrator.controller import policystatus
from orchestrator.controller.decisions import CARRIED, DecisionLog, carried, decision_input
from orchestrator.controller.dr import DemandResponses
from orchestrator.controller.snapshot import HubObjects, build, read_hub
from orchestrator.errors import LedgerError
from orchestrator.ledger.handle import Ledger
from orchestrator.ledger.records import DecisionInput
from orchestrator.planner import plan as make_plan
from orchestrator.planner.model import Intent, LevelChange, Plan, Snapshot

log = logging.getLogger(__name__)

LEARNING_WINDOW = timedelta(days=30)
LEVEL_HISTORY = timedelta(days=1)
MAX_WAKE_JOBS = 32
DEBOUNCE_SECONDS = 0.5


def migration_body(
    intent: Intent, *, decision_id: int | None = None, decision: DecisionInput | None = None
) -> dict[str, Any]:
    """The Migration an intent asks for, naming its decision in the ledger (``decision_id``) or,
    while the ledger is away, carrying it (``decision``); ValidationError when the intent names
    a bad value."""
    reason = Reason(
        trigger=intent.trigger,
        message=intent.message[:1024],
        signal_id=intent.signal_id[:253] if intent.signal_id else None,
        demand_response_event=intent.demand_response_event or None,
        policy=intent.policy or None,
        decision_id=decision_id,
    )
    return new_migration(
        namespace=intent.namespace,
        workload=intent.workload,
        from_cluster=intent.from_cluster,
        to_cluster=intent.to_cluster,
        deadline_seconds=intent.deadline_seconds,
        reason=reason,
        name_hint=intent.trigger.lower()[:14],
        annotations=(
            {CARRIED: carried(decision)} if decision_id is None and decision is not None else {}
        ),
    )


def _level(zone: dict[str, Any]) -> int:
    """A GridZone's peak level now, as its status says (0 when it says nothing)."""
    return int((zone.get("status") or {}).get("peakLevel", 0) or 0)


def gather_snapshot(
    hub: HubClient,
    *,
    now: datetime,
    durations: Mapping[tuple[str, str], Sequence[float]] | None = None,
) -> Snapshot:
    """A snapshot of the hub now, for a one-off plan (``gridshift plan --explain``); blocking.

    Without the loop's memory of zones' peak levels, each zone counts as at its level since
    ``now`` — a one-off plan never returns a workload home early.
    """
    objects = read_hub(hub)
    levels = {z["metadata"]["name"]: [LevelChange(at=now, level=_level(z))] for z in objects.zones}
    return build(objects, now=now, durations=durations or {}, level_history=levels)


class Planner:
    """The leader's planner loop: reads the hub and the ledger, writes Migrations, decisions
    and the status of DemandResponseEvents (through ``dr``) and MigrationPolicies."""

    def __init__(
        self,
        *,
        hub: HubClient,
        ledger: Ledger,
        dr: DemandResponses,
        interval_seconds: float = 15.0,
    ) -> None:
        self.hub = hub
        self.ledger = ledger
        self.dr = dr
        self.decisions = DecisionLog(ledger)
        self.interval_seconds = interval_seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._scheduler: AsyncIOScheduler | None = None
        self._levels: dict[str, list[LevelChange]] = {}
        self._durations: dict[tuple[str, str], list[float]] = {}
        self._seen: dict[tuple[str, str], object] = {}

    # ---- waking -------------------------------------------------------------------------
    def wake(self) -> None:
        """Plan again soon."""
        self._wake.set()

    def observe(self, kind: str, name: str, fingerprint: object | None) -> None:
        """Wake when what the planner cares about in an object changed (None: deleted)."""
        key = (kind, name)
        if fingerprint is None:
            if self._seen.pop(key, None) is not None:
                self.wake()
            return
        if self._seen.get(key) != fingerprint:
            self._seen[key] = fingerprint
            self.wake()

    # ---- lifecycle ----------------------------------------------------------------------
    async def start(self) -> None:
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._scheduler.start()
        self._task = asyncio.create_task(self._run(), name="planner")

    async def stop(self) -> None:
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.interval_seconds)
                await asyncio.sleep(DEBOUNCE_SECONDS)  # let a burst of changes land first
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self.once()
            except (KubeError, LedgerError) as exc:
                log.warning("planning skipped; retrying in %.0f s: %s", self.interval_seconds, exc)
            except Exception:
                log.exception("planning failed; retrying in %.0f s", self.interval_seconds)

    # ---- one round ----------------------------------------------------------------------
    async def gather(self, now: datetime) -> tuple[HubObjects, Snapshot]:
        """Read the hub and the ledger; build the snapshot."""
        objects = await asyncio.to_thread(read_hub, self.hub)
        try:
            self._durations = await asyncio.to_thread(
                self.ledger.completed_durations, since=now - LEARNING_WINDOW
            )
        except LedgerError as exc:
            log.warning("learned migration times not refreshed (ledger): %s", exc)
        self._note_levels(objects, now)
        snapshot = build(objects, now=now, durations=self._durations, level_history=self._levels)
        return objects, snapshot

    async def once(self, now: datetime | None = None) -> Plan:
        """Gather, plan, apply; returns the plan."""
        now = now or datetime.now(UTC)
        round_started = time.perf_counter()
        objects, snapshot = await self.gather(now)
        started = time.perf_counter()
        plan = await asyncio.to_thread(make_plan, snapshot, now)
        seconds = time.perf_counter() - started
        if plan.intents:
            log.info(
                "planned %d move(s) in %.3f s: %s",
                len(plan.intents),
                seconds,
                ", ".join(f"{i.namespace}/{i.workload}->{i.to_cluster}" for i in plan.intents),
            )
        moves, rest = self._decision_rows(plan, snapshot, now)
        ids = await self.decisions.write_moves(list(moves.values()))
        created = await self._create(plan, moves, ids)
        await self.decisions.write_rest(rest, now)
        await self.decisions.relay([*objects.migrations, *created])
        await self.dr.update(objects, snapshot, now, created=created)
        await asyncio.to_thread(policystatus.update, self.hub, objects, snapshot, plan, now)
        self._schedule(plan.wake_at, now)
        metrics.PLANNER_SECONDS.observe(time.perf_counter() - round_started)
        return plan

    def _note_levels(self, objects: HubObjects, now: datetime) -> None:
        for zone in objects.zones:
            name = zone["metadata"]["name"]
            level = _level(zone)
            history = self._levels.setdefault(name, [])
            if not history or history[-1].level != level:
                history.append(LevelChange(at=now, level=level))
            cutoff = now - LEVEL_HISTORY
            while len(history) > 1 and history[1].at <= cutoff:
                history.pop(0)

    def _decision_rows(
        self, plan: Plan, snapshot: Snapshot, now: datetime
    ) -> tuple[dict[tuple[str, str], DecisionInput], list[DecisionInput]]:
        """The plan's decisions as ledger rows: those starting a Migration, and the others."""
        plan_id = self.decisions.plan_id(now)
        zones = {c.name: c.zone for c in snapshot.clusters}
        intents = {(i.namespace, i.workload): i for i in plan.intents}
        moves: dict[tuple[str, str], DecisionInput] = {}
        rest: list[DecisionInput] = []
        for decision in plan.decisions:
            key = (decision.namespace, decision.workload)
            intent = intents.get(key)
            row = decision_input(
                decision, intent, decided_at=now, plan_id=plan_id, cluster_zones=zones
            )
            if intent is not None and not intent.dry_run:
                moves[key] = row
            else:
                rest.append(row)
        return moves, rest

    async def _create(
        self,
        plan: Plan,
        decisions: Mapping[tuple[str, str], DecisionInput],
        ids: Mapping[tuple[str, str], int] | None,
    ) -> list[dict[str, Any]]:
        created: list[dict[str, Any]] = []
        for intent in plan.intents:
            if intent.dry_run:
                continue
            key = (intent.namespace, intent.workload)
            try:
                body = migration_body(
                    intent,
                    decision_id=None if ids is None else ids.get(key),
                    decision=decisions.get(key),
                )
                obj = await asyncio.to_thread(self.hub.create, "migrations", intent.namespace, body)
            except (KubeError, ValidationError) as exc:
                log.warning(
                    "workload=%s/%s move to %s not created: %s",
                    intent.namespace,
                    intent.workload,
                    intent.to_cluster,
                    exc,
                )
                continue
            created.append(obj)
            metrics.PLANNED_MOVES.labels(intent.trigger).inc()
            log.info(
                "migration=%s/%s created: %s %s -> %s (%s, %.1f kW)",
                intent.namespace,
                obj["metadata"]["name"],
                intent.workload,
                intent.from_cluster,
                intent.to_cluster,
                intent.trigger,
                intent.kw,
            )
        return created

    def _schedule(self, wake_at: tuple[datetime, ...], now: datetime) -> None:
        if self._scheduler is None:
            return
        for when in wake_at[:MAX_WAKE_JOBS]:
            if when <= now:
                continue
            self._scheduler.add_job(
                self.wake,
                "date",
                run_date=when,
                id=f"planner.wake.{int(when.timestamp())}",
                replace_existing=True,
                misfire_grace_time=300,
            )


def fingerprints() -> dict[str, Callable[[dict[str, Any]], object]]:
    """For each kind the planner watches, the part of an object that matters to a plan."""

    def status(body: dict[str, Any]) -> dict[str, Any]:
        return dict(body.get("status") or {})

    def generation(body: dict[str, Any]) -> object:
        return (body.get("metadata") or {}).get("generation")

    return {
        "gridzones": lambda b: (
            generation(b),
            *(str(status(b).get(k)) for k in ("peakLevel", "pricePerKWh", "stale", "nextPeak")),
        ),
        "memberclusters": lambda b: (
            generation(b),
            status(b).get("freeGPUs"),
            tuple((c.get("type"), c.get("status")) for c in status(b).get("conditions", []) or []),
        ),
        "inferenceworkloads": lambda b: (
            generation(b),
            status(b).get("currentCluster"),
            status(b).get("activeMigration"),
            str(sorted(((b.get("metadata") or {}).get("labels") or {}).items())),
        ),
        "migrationpolicies": generation,
        "demandresponseevents": lambda b: (generation(b), status(b).get("state") == "Cancelled"),
        "migrations": lambda b: status(b).get("phase") in ("Completed", "RolledBack", "Failed"),
    }


def setup(registry: kopf.OperatorRegistry, *, planner: Planner) -> None:
    """Wake ``planner`` when an object it reads changes in a way that matters to a plan."""
    for plural, fingerprint in fingerprints().items():

        def changed(
            body: kopf.Body,
            type: str | None,
            _plural: str = plural,
            _fingerprint: Callable[[dict[str, Any]], object] = fingerprint,
            **_: Any,
        ) -> None:
            meta = body.get("metadata") or {}
            name = f"{meta.get('namespace') or ''}/{meta.get('name')}"
            gone = type == "DELETED"
            planner.observe(_plural, name, None if gone else _fingerprint(dict(body)))

        kopf.on.event(GROUP, VERSION, plural, registry=registry, id=f"plan-{plural}")(changed)

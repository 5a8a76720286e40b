"""The signals service: scheduled jobs and the processing loop, in the operator's event loop.

:class:`SignalService` owns an APScheduler ``AsyncIOScheduler`` with fixed job ids
(``replace_existing=True``, ``coalesce=True``, one instance at a time, a misfire grace of half
the period):

- ``signals.refresh`` (every replica): re-read GridZones and the operators' token Secret, and
  keep one ``signals.feed.<zone>.<n>`` job per configured feed;
- ``signals.reconcile`` (leader): reconcile every zone, which also turns zones Stale;
- ``signals.pending`` (leader, every ``pending_seconds``): process the zones that have signals
  not yet processed, which other replicas' webhooks recorded;
- ``signals.feed.<zone>.<n>`` (leader): poll one feed and record what it returns.

An ``OpenADRPoll`` feed whose VTN offers MQTT notifications also gets a subscriber task (after
its first poll registered the VEN; :mod:`orchestrator.signals.openadr_mqtt`): each notification
is recorded at once, and every (re)connection triggers a poll to catch up. Polling goes on as
the fallback.

Signals the webhook records wake the processing loop at once (leader only); a non-leader's
webhook still records them and the leader picks them up from the ledger within
``pending_seconds`` (2 s), well inside a dispatch order's shortest response deadline (30 s).
``leader`` is a callable, so the Lease-based election decides per run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from orchestrator import metrics
from orchestrator.api.gridzone import PriceFeed
from orchestrator.errors import GridshiftError
from orchestrator.signals.auth import TokenStore, credentials_from_secret
from orchestrator.signals.directory import Hub, ZoneDirectory, ZoneView
from orchestrator.signals.feeds import FeedPoller
from orchestrator.signals.ingest import Ingestor
from orchestrator.signals.openadr import parse_notification
from orchestrator.signals.openadr_mqtt import listen
from orchestrator.signals.openadr_report import (
    DrOutcome,
    build_report,
    outcome_state,
    report_descriptors,
)
from orchestrator.signals.openadr_ven import openadr_operator, vtn_feed
from orchestrator.signals.processor import Processor

log = logging.getLogger(__name__)

REFRESH_JOB = "signals.refresh"
RECONCILE_JOB = "signals.reconcile"
PENDING_JOB = "signals.pending"
FEED_JOB = "signals.feed."


class SignalService:
    """Feeds, reconciles and the processing loop; ``start`` and ``stop`` inside a running loop."""

    def __init__(
        self,
        *,
        ingestor: Ingestor,
        processor: Processor,
        hub: Hub,
        zones: ZoneDirectory,
        tokens: TokenStore,
        feeds: FeedPoller,
        leader: Callable[[], bool],
        namespace: str,
        token_secret: str,
        reconcile_seconds: int = 30,
        refresh_seconds: int = 30,
        callback_url: str | None = None,
        client_name: str = "gridshift",
        pending_seconds: int = 2,
    ) -> None:
        self.pending_seconds = pending_seconds
        self.ingestor = ingestor
        self.processor = processor
        self.hub = hub
        self.zones = zones
        self.tokens = tokens
        self.feeds = feeds
        self.leader = leader
        self.namespace = namespace
        self.token_secret = token_secret
        self.reconcile_seconds = reconcile_seconds
        self.refresh_seconds = refresh_seconds
        self.scheduler: AsyncIOScheduler | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._feed_jobs: dict[str, str] = {}
        self._subscribed: set[str] = set()
        self._listeners: dict[str, tuple[str, asyncio.Task[None]]] = {}
        self.callback_url = callback_url
        self.client_name = client_name
        ingestor.on_recorded = self.recorded

    async def start(self) -> None:
        """Read zones and tokens once, then schedule the jobs and start the processing loop."""
        self._loop = asyncio.get_running_loop()
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        await self.refresh()
        now = datetime.now(UTC)
        self._every(
            REFRESH_JOB,
            self.refresh,
            self.refresh_seconds,
            first=now + timedelta(seconds=self.refresh_seconds),
        )
        self._every(RECONCILE_JOB, self.reconcile_all, self.reconcile_seconds, first=now)
        self._every(PENDING_JOB, self.reconcile_pending, self.pending_seconds, first=now)
        self.scheduler.start()
        self._task = asyncio.create_task(self._process_loop(), name="signals-processor")

    async def stop(self) -> None:
        """Stop the jobs and the loop; a job running now is not waited for."""
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        for job_id in list(self._listeners):
            await self._stop_listener(job_id)

    def _every(
        self,
        job_id: str,
        func: Callable[..., object],
        seconds: int,
        *,
        first: datetime,
        args: tuple[object, ...] = (),
    ) -> None:
        assert self.scheduler is not None  # noqa: S101  # start() made it
        self.scheduler.add_job(
            func,
            IntervalTrigger(seconds=seconds, timezone=UTC),
            id=job_id,
            args=args,
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=max(seconds // 2, 1),
            next_run_time=first,
        )

    def recorded(self, zones: Collection[str], at: datetime) -> None:
        """Called (from any thread) after signals for ``zones`` were committed."""
        self.processor.touch(zones, at)
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._mark, set(zones))

    def _mark(self, zones: set[str]) -> None:
        self._dirty |= zones
        self._wake.set()

    async def _process_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            dirty, self._dirty = self._dirty, set()
            if not self.leader():
                continue
            for name in sorted(dirty):
                zone = self.zones.get(name)
                if zone is not None:
                    await self._reconcile(zone)

    async def _reconcile(self, zone: ZoneView) -> None:
        try:
            await asyncio.to_thread(self.processor.reconcile_zone, zone)
        except GridshiftError as exc:
            log.warning("could not reconcile gridzone=%s: %s", zone.name, exc)

    async def reconcile_pending(self) -> None:
        """Wake processing for zones with unprocessed signals, from any replica (leader only)."""
        if not self.leader():
            return
        try:
            pending = await asyncio.to_thread(self.processor.pending_zones)
        except GridshiftError as exc:
            log.warning("could not read the zones with unprocessed signals: %s", exc)
            return
        if pending:
            self._mark(set(pending))

    async def reconcile_all(self) -> None:
        """Reconcile every zone (leader only)."""
        if not self.leader():
            return
        for zone in self.zones.all():
            await self._reconcile(zone)

    async def refresh(self) -> None:
        """Re-read GridZones and the token Secret; keep the feed jobs in step with the specs."""
        try:
            zones = await asyncio.to_thread(self.hub.list_zones)
            secret = await asyncio.to_thread(
                self.hub.secret_data, self.namespace, self.token_secret
            )
        except GridshiftError as exc:
            log.warning("could not refresh zones and tokens: %s", exc)
            return
        self.zones.replace(zones)
        self.tokens.replace(credentials_from_secret(secret))
        if self.scheduler is not None:
            self._sync_feed_jobs(zones)

    def _sync_feed_jobs(self, zones: Collection[ZoneView]) -> None:
        assert self.scheduler is not None  # noqa: S101  # called after start()
        wanted: dict[str, tuple[str, int, PriceFeed]] = {}
        for zone in zones:
            for position, feed in enumerate(zone.spec.price_feeds):
                wanted[f"{FEED_JOB}{zone.name}.{position}"] = (zone.name, position, feed)
        for job_id in set(self._feed_jobs) - set(wanted):
            if self.scheduler.get_job(job_id) is not None:
                self.scheduler.remove_job(job_id)
        for job_id, (config, _) in list(self._listeners.items()):
            if job_id not in wanted or wanted[job_id][2].model_dump_json() != config:
                self._listeners.pop(job_id)[1].cancel()
        now = datetime.now(UTC)
        configs = {}
        for job_id, (zone_name, position, feed) in wanted.items():
            configs[job_id] = feed.model_dump_json()
            if self._feed_jobs.get(job_id) != configs[job_id]:
                self._every(
                    job_id,
                    self.poll,
                    feed.poll_interval_seconds,
                    first=now,
                    args=(zone_name, position),
                )
        self._feed_jobs = configs

    async def _subscribe(self, zone: ZoneView, feed: PriceFeed) -> None:
        """Register our webhook with the VTN of an OpenADRPoll feed, once per configuration."""
        if feed.type != "OpenADRPoll" or not self.callback_url:
            return
        key = f"{zone.name}:{feed.model_dump_json()}"
        credentials = self.tokens.snapshot().get(openadr_operator(zone, feed))
        if key in self._subscribed or credentials is None:
            return
        await self.feeds.vens.subscribe(
            zone,
            feed,
            callback_url=self.callback_url,
            client_name=self.client_name,
            bearer_token=credentials.token.decode(),
        )
        self._subscribed.add(key)
        log.info("subscribed gridzone=%s to VTN %s", zone.name, feed.url)

    async def poll(self, zone_name: str, index: int) -> int:
        """Poll feed ``index`` of ``zone_name`` and record its signals (leader only)."""
        zone = self.zones.get(zone_name)
        if not self.leader() or zone is None or index >= len(zone.spec.price_feeds):
            return 0
        feed = zone.spec.price_feeds[index]
        try:
            await self._subscribe(zone, feed)
            signals = await self.feeds.poll(zone, feed)
            outcome = await asyncio.to_thread(self.ingestor.record, signals)
            if not signals:
                self.recorded({zone_name}, self.ingestor.clock())
            if feed.type == "OpenADRPoll":
                link = await self.feeds.vens.link(zone, feed)
                self.zones.note_programs(zone_name, link.programs.values())
                await self._listen(zone, index, feed)
        except GridshiftError as exc:
            log.warning("feed %s of gridzone=%s failed: %s", feed.type, zone_name, exc)
            metrics.signals_counted(feed.type.lower(), "failed")
            self.processor.problem(zone_name, f"{feed.type}: {exc}")
            return 0
        metrics.signals_counted(feed.type.lower(), "accepted", outcome.accepted)
        metrics.signals_counted(feed.type.lower(), "duplicate", outcome.duplicates)
        log.info(
            "polled feed %s of gridzone=%s: %d new, %d repeated",
            feed.type,
            zone_name,
            outcome.accepted,
            outcome.duplicates,
        )
        return outcome.accepted

    async def _listen(self, zone: ZoneView, index: int, feed: PriceFeed) -> None:
        """Start the MQTT subscriber of the zone's VEN once it is registered."""
        job_id = f"{FEED_JOB}{zone.name}.{index}"
        running = self._listeners.get(job_id)
        if running is not None and not running[1].done():
            return
        link = await self.feeds.vens.link(zone, feed)
        if link.ven is None:
            return

        async def deliver(payload: bytes) -> None:
            await self._notified(zone.name, index, payload)

        async def connected() -> None:
            await self.poll(zone.name, index)

        task = asyncio.create_task(
            listen(link.client, link.ven.id, deliver=deliver, connected=connected),
            name=f"openadr-mqtt-{zone.name}-{index}",
        )
        self._listeners[job_id] = (feed.model_dump_json(), task)

    async def _stop_listener(self, job_id: str) -> None:
        _, task = self._listeners.pop(job_id)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _notified(self, zone_name: str, index: int, payload: bytes) -> None:
        """Record one MQTT notification for the zone (leader only)."""
        zone = self.zones.get(zone_name)
        if not self.leader() or zone is None or index >= len(zone.spec.price_feeds):
            return
        feed = zone.spec.price_feeds[index]
        try:
            notification = parse_notification(json.loads(payload))
            signals = await self.feeds.vens.notified(
                zone, feed, notification, self.ingestor.clock()
            )
            outcome = await asyncio.to_thread(self.ingestor.record, signals)
        except (ValueError, GridshiftError) as exc:
            log.warning("MQTT notification for gridzone=%s not recorded: %s", zone_name, exc)
            metrics.signals_counted("openadrmqtt", "failed")
            return
        metrics.signals_counted("openadrmqtt", "accepted", outcome.accepted)
        metrics.signals_counted("openadrmqtt", "duplicate", outcome.duplicates)
        log.info(
            "MQTT notification %s for gridzone=%s: %d new, %d repeated",
            notification.operation,
            zone_name,
            outcome.accepted,
            outcome.duplicates,
        )

    async def report_dr_outcome(
        self,
        *,
        zone: str,
        event_id: str,
        program: str | None,
        state: str,
        achieved_kw: float,
        zone_load_kw: float,
        window_start: datetime,
        window_end: datetime | None,
    ) -> bool:
        """Post the OpenADR REPORT of a DR event that ended ``Met`` or ``Missed`` to the VTN.

        The VTN is the one of the zone's first ``OpenADRPoll`` feed. The event is read back
        from it for its ``reportDescriptors`` and ``programID`` (``program`` when it is gone);
        an open window ends now. False (and logged) when the zone has no VTN; ``SignalError``
        when the VTN fails or the outcome cannot be reported.
        """
        outcome_kind = outcome_state(state)
        view = self.zones.get(zone)
        feed = vtn_feed(view)
        if view is None or feed is None:
            log.info(
                "did not report DR event=%s of gridzone=%s: the zone has no VTN", event_id, zone
            )
            return False
        vtn = await self.feeds.vens.client(view, feed)
        event = await vtn.event_document(event_id)
        found = event.get("programID") if event is not None else None
        outcome = DrOutcome(
            zone=zone,
            event_id=event_id,
            program_id=found if isinstance(found, str) and found else program,
            state=outcome_kind,
            achieved_kw=achieved_kw,
            zone_load_kw=zone_load_kw,
            window_start=window_start,
            window_end=window_end or self.ingestor.clock(),
        )
        report = build_report(
            outcome,
            client_name=self.client_name,
            version=vtn.version,
            descriptors=report_descriptors(event) if event is not None else None,
        )
        await vtn.post_report(report)
        log.info("reported DR event=%s of gridzone=%s as %s to VTN %s", event_id, zone,
                 outcome_kind, vtn.base_url)  # fmt: skip
        return True

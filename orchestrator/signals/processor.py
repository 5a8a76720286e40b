"""From recorded signals to GridZone status and DemandResponseEvents: level-triggered, resumable.

:meth:`Processor.reconcile_zone` reads the zone's signals from the ledger (``lookback`` behind
and ``horizon`` ahead of now), and:

1. for every DR event with a signal not yet processed, records the newest revision of the order
   in the ledger (``dr_events``) and applies its DemandResponseEvent in the hub, or cancels it;
2. derives the zone's status (:func:`orchestrator.signals.zonestate.derive_status`) and writes
   it through the status subresource;
3. only then marks the signals processed.

Every step is idempotent, so a crash anywhere repeats work and loses none: the next reconcile
(at start, then every ``signal_reconcile_seconds``) finds the rows still unprocessed. The zone's
last signal time is the newest of what :meth:`touch` was told in this process, the receipt
time of every signal in the ledger (whichever replica recorded it) and the status written
before; :meth:`pending_zones` names the zones with rows still unprocessed, which the leader
asks every few seconds, so a signal a follower recorded is processed as quickly as its own.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections.abc import Callable, Collection, Sequence
from datetime import datetime, timedelta

from orchestrator import metrics
from orchestrator.api.drevent import DemandResponseEventSpec, EventSource, Window
from orchestrator.api.gridzone import GridZoneStatus
from orchestrator.errors import ConfigError
from orchestrator.ledger.handle import Ledger
from orchestrator.ledger.records import DrOrderInput
from orchestrator.logs import redact
from orchestrator.signals.directory import Hub, ZoneView
from orchestrator.signals.model import DrOrder, StoredSignal
from orchestrator.signals.tou import Schedule
from orchestrator.signals.zonestate import ZoneInputs, derive_status, is_cancel, revision_key

log = logging.getLogger(__name__)

LABEL_ZONE = "gridshift.io/zone"
LABEL_SOURCE = "gridshift.io/source"
_NOT_DNS = re.compile(r"[^a-z0-9-]+")
_NOT_LABEL = re.compile(r"[^A-Za-z0-9_.-]+")


def dr_event_key(zone: str, event_id: str) -> str:
    """The ledger's external id of a DR event: one per zone an event names, at most 253 chars."""
    key = f"{zone}/{event_id}"
    if len(key) <= 253:
        return key
    return f"{zone}/sha-{hashlib.sha256(event_id.encode()).hexdigest()[:40]}"


def dr_order_input(
    *, source: str, zone: str, order: DrOrder, k8s_name: str, signal_ids: Sequence[int] = ()
) -> DrOrderInput:
    """What the ledger records of ``order``'s newest revision (``signal_ids``: the ledger rows
    of every revision, which the event's row then names as its order)."""
    return DrOrderInput(
        source=source,
        external_id=dr_event_key(zone, order.event_id),
        zone=zone,
        kind=order.kind,
        target_kw=order.kw,
        window_start=order.window_start,
        window_end=order.window_end,
        response_deadline_seconds=order.deadline_seconds,
        k8s_name=k8s_name,
        cancelled=order.cancelled,
        signal_ids=tuple(signal_ids),
    )


def dr_event_name(zone: str, source: str, event_id: str) -> str:
    """The DemandResponseEvent's name: readable, unique per (source, event), a DNS subdomain."""
    digest = hashlib.sha256(f"{source}\n{event_id}".encode()).hexdigest()[:10]
    slug = _NOT_DNS.sub("-", event_id.lower()).strip("-")[:40].strip("-")
    return "-".join(part for part in (zone, slug, digest) if part)


def _label(value: str) -> str:
    return _NOT_LABEL.sub("-", value)[:63].strip("-_.") or "unknown"


def dr_event_spec(zone: str, source: str, order: DrOrder) -> DemandResponseEventSpec:
    """The DemandResponseEvent spec of ``order``."""
    kind = {"OpenADR": "OpenADR", "Native": "Native"}.get(order.source_kind, "Manual")
    return DemandResponseEventSpec(
        zone=zone,
        window=Window(start=order.window_start, end=order.window_end),
        shed_kw=order.kw if order.kind == "shed" else None,
        import_cap_kw=order.kw if order.kind == "import_cap" else None,
        response_deadline_seconds=min(max(order.deadline_seconds, 30), 3600),
        priority=min(max(order.priority, 0), 1000),
        source=EventSource(
            kind=kind,
            event_id=order.event_id,
            program=order.program,
            issuer=source.partition(":")[2][:253] or None,
        ),
    )


class Processor:
    """Turns the ledger's signals into zone state; one zone at a time, synchronously."""

    def __init__(
        self,
        *,
        ledger: Ledger,
        hub: Hub,
        clock: Callable[[], datetime],
        lookback: timedelta = timedelta(days=1),
        horizon: timedelta = timedelta(days=2),
        schedules: Callable[[ZoneView, datetime], Schedule | None] | None = None,
    ) -> None:
        self.ledger = ledger
        self.hub = hub
        self.clock = clock
        self.lookback = lookback
        self.horizon = horizon
        self.schedules = schedules
        self._lock = threading.Lock()
        self._last_seen: dict[str, datetime] = {}
        self._problems: dict[str, str] = {}
        self._written: dict[str, GridZoneStatus] = {}

    def pending_zones(self) -> list[str]:
        """Zones with signals not yet processed in the window this processor reads, whichever
        replica recorded them."""
        now = self.clock()
        return self.ledger.zones_with_unprocessed_signals(
            since=now - self.lookback, until=now + self.horizon
        )

    def touch(self, zones: Collection[str], at: datetime) -> None:
        """Note that signals for ``zones`` were accepted at ``at`` (new or repeated)."""
        with self._lock:
            for zone in zones:
                if zone not in self._last_seen or self._last_seen[zone] < at:
                    self._last_seen[zone] = at
                self._problems.pop(zone, None)

    def problem(self, zone: str, message: str) -> None:
        """Note a feed failure for ``zone``, shown in its SignalsFresh message (credentials in
        it masked: the status is readable by everyone who may read the GridZone)."""
        with self._lock:
            self._problems[zone] = redact(message)[:500]

    def reconcile_zone(self, zone: ZoneView) -> GridZoneStatus:
        """Process the zone's new signals and write its status; returns the status written."""
        now = self.clock()
        rows = self.ledger.zone_signals(
            zone.name, since=now - self.lookback, until=now + self.horizon
        )
        signals = [StoredSignal.of(row) for row in rows]
        fresh = [s for s in signals if s.processed_at is None]
        self._apply_orders(zone.name, signals, fresh, now)
        with self._lock:
            last = self._last_seen.get(zone.name)
            problem = self._problems.get(zone.name)
            previous = self._written.get(zone.name, zone.status)
        # the newest receipt by any replica (signals a follower recorded count as ours do), up
        # to now: a receipt "after now" is one this clock cannot judge the age of yet
        candidates = [s.received_at for s in signals if s.received_at <= now]
        if last is not None:
            candidates.append(last)
        if previous is not None and previous.last_signal_time is not None:
            candidates.append(previous.last_signal_time)
        last = max(candidates, default=None)
        newest = max(signals, key=lambda s: s.id, default=None)
        active = [
            e.k8s_name
            for e in self.ledger.dr_events_in_force(zone.name, at=now)
            if e.k8s_name and e.window_start <= now and (e.window_end is None or now < e.window_end)
        ]
        status = derive_status(
            ZoneInputs(
                generation=zone.generation,
                spec=zone.spec,
                previous=previous,
                signals=signals,
                active_events=active,
                last_signal_time=last,
                last_signal_id=(
                    newest.signal.external_id
                    if newest
                    else previous.last_signal_id
                    if previous
                    else None
                ),
                schedule=self._schedule(zone, now),
                feed_problem=problem,
            ),
            now=now,
            horizon=self.horizon,
        )
        self.hub.patch_zone_status(zone.name, status)
        metrics.zone_observed(
            zone.name,
            price_per_kwh=status.price_per_kwh,
            peak_level=status.peak_level,
            stale=status.stale,
        )
        with self._lock:
            self._written[zone.name] = status
        self.ledger.mark_signals_processed([s.id for s in fresh], at=now)
        return status

    def _schedule(self, zone: ZoneView, now: datetime) -> Schedule | None:
        if self.schedules is None:
            return None
        try:
            return self.schedules(zone, now)
        except ConfigError as exc:
            log.warning("no tariff schedule for gridzone=%s: %s", zone.name, exc)
            return None

    def _apply_orders(
        self,
        zone: str,
        stored: Sequence[StoredSignal],
        fresh: Sequence[StoredSignal],
        now: datetime,
    ) -> None:
        """Apply the newest revision of every DR event that has a new signal."""
        touched = {(s.signal.source, s.signal.event) for s in fresh if s.signal.kind == "dr_event"}
        for source, event in sorted(touched):
            rows = [
                s
                for s in stored
                if s.signal.kind == "dr_event"
                and (s.signal.source, s.signal.event) == (source, event)
            ]
            newest = max(rows, key=lambda s: (revision_key(s.signal), is_cancel(s.signal), s.id))
            order = newest.signal.order
            if order is None:
                continue
            name = dr_event_name(zone, source, order.event_id)
            state = self.ledger.apply_dr_order(
                dr_order_input(
                    source=source,
                    zone=zone,
                    order=order,
                    k8s_name=name,
                    signal_ids=[s.id for s in rows],
                ),
                at=now,
            )
            if state is None:
                log.info("ignored cancel of unknown DR event source=%s event=%s", source, event)
            elif order.cancelled or state.state == "Cancelled":
                if self.hub.cancel_dr_event(
                    state.k8s_name or name,
                    message=f"Cancelled by {source} (event {order.event_id}).",
                    now=now,
                ):
                    log.info("cancelled demandresponseevent=%s source=%s", name, source)
            else:
                self.hub.apply_dr_event(
                    state.k8s_name or name,
                    dr_event_spec(zone, source, order),
                    labels={LABEL_ZONE: _label(zone), LABEL_SOURCE: _label(source)},
                )
                log.info("applied demandresponseevent=%s source=%s", name, source)

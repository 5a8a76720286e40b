"""Every Prometheus metric gridshift exports, defined once, on one registry.

The HTTP server exposes :data:`REGISTRY` at ``/metrics``. Label values come from closed sets
(the API's phases, outcomes and triggers, the signal sources and results below), so the number
of series is bounded; the exceptions are named after objects a person declares and keeps few of
(zones, DemandResponseEvents): their bound is documented on the metric. No metric is labelled
with a uid, a workload or a Migration's name.

Callers use the small helpers (``migration_ended``, ``phase_ended``, ``signals_counted`` ...),
which map an unexpected label value to ``other`` rather than create a new series. The planner
loop observes :data:`PLANNER_SECONDS` and counts :data:`PLANNED_MOVES`; whoever runs leader
election calls :func:`set_leader`; whoever tracks DR events sets :data:`DR_SHED_KW` through
:func:`dr_shed` and calls :func:`dr_event_ended` when an event ends.

This module imports nothing of gridshift and no I/O library but ``prometheus_client``: any
layer may import it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, get_args

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    gc_collector,
    generate_latest,
    platform_collector,
    process_collector,
)

from orchestrator.api.migration import PHASES as PHASES_OF_A_MOVE
from orchestrator.api.migration import TERMINAL_PHASES
from orchestrator.api.migration import TRIGGERS as API_TRIGGERS

OTHER = "other"
"""The label value for anything outside a metric's closed set."""

OUTCOMES = tuple(p for p in PHASES_OF_A_MOVE if p in TERMINAL_PHASES)
"""How a move ends (the Migration's terminal phases)."""
PHASES = tuple(p for p in PHASES_OF_A_MOVE if p not in TERMINAL_PHASES)
"""The phases a move spends time in (terminal phases have no duration)."""
TRIGGERS = API_TRIGGERS
"""Why a move was made (``spec.reason.trigger``)."""

SignalSource = Literal[
    "native",
    "openadr",
    "timeofuse",
    "httpjson",
    "electricitymaps",
    "entsoe",
    "openadrpoll",
    "openadrmqtt",
]
"""Where signals came from: the two webhook endpoints, a feed type (lower case), or OpenADR
MQTT notifications."""
SIGNAL_SOURCES: tuple[str, ...] = get_args(SignalSource)

SignalResult = Literal[
    "accepted",
    "duplicate",
    "ignored",
    "rejected_auth",
    "rejected_malformed",
    "rejected_unknown_zone",
    "too_large",
    "incomplete",
    "too_busy",
    "ledger_unavailable",
    "failed",
]
"""What became of signals: ``accepted`` (new rows), ``duplicate`` (repeats, no change) and
``ignored`` (notifications that carry no signal) count signals; the others count requests or
polls: a bad token or signature, a body that is not JSON or not the schema, an unknown zone, a
body over the limit, a body cut off or not sent in time, too many bodies arriving at once, the
ledger down (503), a feed that failed."""
SIGNAL_RESULTS: tuple[str, ...] = get_args(SignalResult)

LedgerRecord = Literal["phase", "outcome"]
"""A migration's ledger write: a best-effort one while it moves, or the final one."""

DURATION_BUCKETS = (5, 10, 20, 30, 45, 60, 90, 120, 150, 180, 210, 240, 300, 600, 1200, 1800)
"""Seconds of a whole move: fine around the 180 s deadline, and past it to the 1800 s maximum."""
PHASE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600)
"""Seconds of one phase: API calls take fractions of a second, loading a model takes minutes."""
PLANNER_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
LAG_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600)
"""Seconds from a fact (a phase begun, a move ended) to its ledger row: long in an outage."""

REGISTRY = CollectorRegistry()
"""gridshift's metrics and the process's own (CPU, memory, file descriptors, GC, Python)."""
process_collector.ProcessCollector(registry=REGISTRY)
platform_collector.PlatformCollector(registry=REGISTRY)
gc_collector.GCCollector(registry=REGISTRY)

MIGRATIONS = Counter(
    "gridshift_migrations",
    "Moves that ended, by outcome (Completed, RolledBack, Failed) and trigger.",
    ["outcome", "trigger"],
    registry=REGISTRY,
)
MIGRATION_SECONDS = Histogram(
    "gridshift_migration_duration_seconds",
    "Seconds from a move's start to its end, by outcome; the deadline is 180 s by default.",
    ["outcome"],
    buckets=DURATION_BUCKETS,
    registry=REGISTRY,
)
PHASE_SECONDS = Histogram(
    "gridshift_migration_phase_duration_seconds",
    "Seconds a move spent in a phase, observed when it left the phase.",
    ["phase"],
    buckets=PHASE_BUCKETS,
    registry=REGISTRY,
)
DEADLINE_MISSES = Counter(
    "gridshift_migration_deadline_misses",
    "Moves that were still under way at their deadline (completed late or rolled back).",
    ["trigger"],
    registry=REGISTRY,
)
SIGNALS = Counter(
    "gridshift_signals",
    "Grid signals by source (webhook endpoint or feed type) and result; see SignalResult.",
    ["source", "result"],
    registry=REGISTRY,
)
ZONE_PRICE = Gauge(
    "gridshift_zone_price_per_kwh",
    "A zone's current price per kWh, in the zone's currency. One series per GridZone.",
    ["zone"],
    registry=REGISTRY,
)
ZONE_PEAK_LEVEL = Gauge(
    "gridshift_zone_peak_level",
    "A zone's peak level now: 0 none, 1 shoulder, 2 peak, 3 critical. One series per GridZone.",
    ["zone"],
    registry=REGISTRY,
)
ZONE_STALE = Gauge(
    "gridshift_zone_stale",
    "1 when a zone's signals are older than its TTL (the planner holds), else 0.",
    ["zone"],
    registry=REGISTRY,
)
DR_SHED_KW = Gauge(
    "gridshift_dr_shed_kw",
    "kW shed so far for a DemandResponseEvent, by event name. Events are few (a handful a "
    "day); the series is removed when the event ends (dr_event_ended).",
    ["event"],
    registry=REGISTRY,
)
DR_TARGET_KW = Gauge(
    "gridshift_dr_target_kw",
    "kW a DemandResponseEvent asks to shed, by event name; removed with gridshift_dr_shed_kw.",
    ["event"],
    registry=REGISTRY,
)
PLANNER_SECONDS = Histogram(
    "gridshift_planner_duration_seconds",
    "Seconds one planning round took (snapshot, plan, applying it).",
    buckets=PLANNER_BUCKETS,
    registry=REGISTRY,
)
PLANNED_MOVES = Counter(
    "gridshift_planner_moves_planned",
    "Migrations the planner decided to create, by trigger.",
    ["trigger"],
    registry=REGISTRY,
)
LEDGER_LAG = Histogram(
    "gridshift_ledger_write_lag_seconds",
    "Seconds from a migration's newest fact (a phase begun, the move ended) to its ledger "
    "row being committed, by record (phase: written while moving; outcome: the final row).",
    ["record"],
    buckets=LAG_BUCKETS,
    registry=REGISTRY,
)
LEDGER_FAILURES = Counter(
    "gridshift_ledger_write_failures",
    "Migration ledger writes PostgreSQL refused or could not take (retried later).",
    registry=REGISTRY,
)
LEADER = Gauge(
    "gridshift_leader",
    "1 while this replica holds the leader Lease (plans, polls feeds, drives moves), else 0.",
    registry=REGISTRY,
)


def _one_of(value: str, allowed: Iterable[str]) -> str:
    return value if value in allowed else OTHER


def _initialize() -> None:
    """Create every series of the closed label sets at zero, so rates start from a point."""
    for outcome in OUTCOMES:
        MIGRATION_SECONDS.labels(outcome)
        for trigger in TRIGGERS:
            MIGRATIONS.labels(outcome, trigger)
    for trigger in TRIGGERS:
        DEADLINE_MISSES.labels(trigger)
        PLANNED_MOVES.labels(trigger)
    for phase in PHASES:
        PHASE_SECONDS.labels(phase)
    for source in SIGNAL_SOURCES:
        for result in SIGNAL_RESULTS:
            SIGNALS.labels(source, result)
    for record in get_args(LedgerRecord):
        LEDGER_LAG.labels(record)
    LEADER.set(0)


_initialize()


def migration_ended(
    *, outcome: str, trigger: str, duration_seconds: float | None, deadline_missed: bool
) -> None:
    """Count a move that reached ``outcome``; observe its duration and any deadline miss."""
    outcome, trigger = _one_of(outcome, OUTCOMES), _one_of(trigger, TRIGGERS)
    MIGRATIONS.labels(outcome, trigger).inc()
    if duration_seconds is not None and duration_seconds >= 0:
        MIGRATION_SECONDS.labels(outcome).observe(duration_seconds)
    if deadline_missed:
        DEADLINE_MISSES.labels(trigger).inc()


def phase_ended(phase: str, seconds: float) -> None:
    """Observe the time a move spent in ``phase`` (negative clock skew counts as zero)."""
    if phase in OUTCOMES:
        return
    PHASE_SECONDS.labels(_one_of(phase, PHASES)).observe(max(0.0, seconds))


def signals_counted(source: str, result: SignalResult, count: int = 1) -> None:
    """Count ``count`` signals (or one request) from ``source`` with ``result``."""
    if count > 0:
        SIGNALS.labels(_one_of(source, SIGNAL_SOURCES), _one_of(result, SIGNAL_RESULTS)).inc(count)


def zone_observed(zone: str, *, price_per_kwh: float | None, peak_level: int, stale: bool) -> None:
    """Set a zone's gauges from the status just written (no price: the price series is removed)."""
    if price_per_kwh is None:
        zone_price_forgotten(zone)
    else:
        ZONE_PRICE.labels(zone).set(price_per_kwh)
    ZONE_PEAK_LEVEL.labels(zone).set(peak_level)
    ZONE_STALE.labels(zone).set(1 if stale else 0)


def zone_price_forgotten(zone: str) -> None:
    """Remove a zone's price series (the zone has no price covering now)."""
    try:
        ZONE_PRICE.remove(zone)
    except KeyError:
        return


def dr_shed(event: str, *, shed_kw: float, target_kw: float | None = None) -> None:
    """Set the kW shed (and asked for) by DemandResponseEvent ``event``."""
    DR_SHED_KW.labels(event).set(shed_kw)
    if target_kw is not None:
        DR_TARGET_KW.labels(event).set(target_kw)


def dr_event_ended(event: str) -> None:
    """Remove an ended event's series, keeping the label set bounded by the events in force."""
    for gauge in (DR_SHED_KW, DR_TARGET_KW):
        try:
            gauge.remove(event)
        except KeyError:
            continue


def ledger_written(record: LedgerRecord, lag_seconds: float) -> None:
    """Observe the lag of a migration's ledger write that just committed."""
    LEDGER_LAG.labels(record).observe(max(0.0, lag_seconds))


def set_leader(leading: bool) -> None:
    """Say whether this replica leads now."""
    LEADER.set(1 if leading else 0)


def exposition() -> tuple[bytes, str]:
    """The registry in the Prometheus text format, and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST

"""What the planner reads and what it returns: plain, frozen values and nothing that does I/O.

The controller gathers a :class:`Snapshot` from the hub and the ledger; :func:`plan` turns it and
the clock into a :class:`Plan`. Every collection is a tuple kept in name order by whoever builds
it, and every value is immutable, so the same snapshot and clock always give the same plan.

Units are in the names: ``kw`` (kilowatts), ``_seconds``, ``_ms``, ``price_per_kwh`` (the zone's
currency per kWh). Times are timezone-aware.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from orchestrator.api.migration import Phase, Trigger
from orchestrator.api.policy import MigrationPolicySpec

Action = Literal["move", "hold", "return_home"]
"""What the planner decided for one workload (the ledger's ``decisions.action``)."""

TERMS: tuple[str, ...] = ("energy_cost", "peak", "green", "latency", "capacity")
"""The terms of every candidate's score, in this order (the ledger's ``CANDIDATE_TERMS``)."""

DEFAULT_MIGRATION_SECONDS = 120.0
"""Learned migration time of a workload with no completed move in the ledger."""


@dataclass(frozen=True)
class ForecastSlot:
    """The zone's expected price and peak level in ``[start, end)``."""

    start: datetime
    end: datetime
    price_per_kwh: float | None = None
    peak_level: int | None = None


@dataclass(frozen=True)
class PeakWindow:
    """A known window at peak level 2 or more (tariff, day-ahead prices, forecast)."""

    start: datetime
    end: datetime | None
    peak_level: int


@dataclass(frozen=True)
class LevelChange:
    """From ``at`` on, the zone's peak level was ``level`` (recent history, oldest first)."""

    at: datetime
    level: int


@dataclass(frozen=True)
class Zone:
    """One grid zone as the planner sees it."""

    name: str
    price_per_kwh: float | None
    peak_level: int
    green_ratio: float | None = None
    stale: bool = False
    signal_id: str | None = None
    """External id of the newest signal behind this state (goes into a Migration's reason)."""
    forecast: tuple[ForecastSlot, ...] = ()
    next_peak: PeakWindow | None = None
    level_history: tuple[LevelChange, ...] = ()
    """Peak-level changes over the recent past, oldest first, for hysteresis. Empty means the
    zone has been at ``peak_level`` for as long as anyone knows."""
    latency_ms: Mapping[str, int] = field(default_factory=dict)
    """Round-trip time from this zone to the clients of each zone named as key."""


@dataclass(frozen=True)
class Cluster:
    """One member cluster."""

    name: str
    zone: str
    reachable: bool
    free_gpus: int
    """GPUs free now as the cluster reports them (allocatable minus requested)."""
    cordoned: bool = False


@dataclass(frozen=True)
class Workload:
    """One InferenceWorkload."""

    namespace: str
    name: str
    current_cluster: str | None
    home_cluster: str
    replicas: int
    gpus_per_replica: int
    kw: float
    """Power of the whole workload (all replicas), kW."""
    policy: str | None
    """Name of the MigrationPolicy that governs it (highest priority match), or None."""
    allowed_zones: tuple[str, ...] = ()
    """Zones it may run in; empty means any."""
    client_zone: str | None = None
    latency_slo_ms: int | None = None
    movable: bool = True
    placed_at: datetime | None = None
    """When it arrived where it runs now (for minDwellSeconds)."""
    last_failed_at: datetime | None = None
    """When its last move rolled back or failed (for cooldownSeconds)."""
    migration_seconds: float = DEFAULT_MIGRATION_SECONDS
    """Learned migration time: p95 of its completed moves, or the default."""
    deadline_seconds: int = 180
    priority: int = 0
    """The workload's own migration priority (higher moves first among equals)."""

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def gpus(self) -> int:
        return self.replicas * self.gpus_per_replica


@dataclass(frozen=True)
class Policy:
    """A MigrationPolicy by name, with its spec as the API defines it."""

    name: str
    spec: MigrationPolicySpec


@dataclass(frozen=True)
class DemandResponse:
    """A DemandResponseEvent in force or scheduled."""

    name: str
    zone: str
    start: datetime
    end: datetime | None
    shed_kw: float | None
    import_cap_kw: float | None
    response_deadline_seconds: int = 180
    priority: int = 0
    signal_id: str | None = None
    responded_at: datetime | None = None
    """When gridshift first started moves for it (None: not yet)."""


@dataclass(frozen=True)
class InFlight:
    """A Migration that has not ended."""

    name: str
    namespace: str
    workload: str
    from_cluster: str
    to_cluster: str
    phase: Phase
    started_at: datetime
    kw: float
    gpus_pending: int
    """GPUs the move will still take on the target that ``free_gpus`` does not show yet."""
    policy: str | None = None
    demand_response_event: str | None = None
    trigger: Trigger = "Manual"


@dataclass(frozen=True)
class RecentMove:
    """A move started in the recent past (at least the last hour), for the hourly limit."""

    namespace: str
    workload: str
    policy: str | None
    started_at: datetime
    from_cluster: str
    to_cluster: str
    outcome: str | None
    """Completed, RolledBack, Failed, or None while in flight."""


@dataclass(frozen=True)
class Snapshot:
    """Everything the planner reads."""

    zones: tuple[Zone, ...]
    clusters: tuple[Cluster, ...]
    workloads: tuple[Workload, ...]
    policies: tuple[Policy, ...]
    events: tuple[DemandResponse, ...] = ()
    in_flight: tuple[InFlight, ...] = ()
    recent_moves: tuple[RecentMove, ...] = ()


@dataclass(frozen=True)
class Candidate:
    """One cluster considered for a workload: its score by term, and whether it may be chosen."""

    cluster: str
    total: float
    terms: Mapping[str, float]
    """Exactly :data:`TERMS`."""
    eligible: bool
    why_not: str = ""
    """Why it may not be chosen (stale zone, peaking, no GPUs, SLO, allowed zones ...)."""


@dataclass(frozen=True)
class Decision:
    """What the planner decided for one workload it considered, and why."""

    namespace: str
    workload: str
    zone: str | None
    """The zone whose signal or event prompted the decision; None if none did."""
    action: Action
    reason: str
    chosen_cluster: str | None
    candidates: tuple[Candidate, ...]
    trigger: Trigger | None = None


@dataclass(frozen=True)
class Intent:
    """A Migration the controller should create."""

    namespace: str
    workload: str
    from_cluster: str
    to_cluster: str
    trigger: Trigger
    message: str
    kw: float
    gpus: int
    deadline_seconds: int
    policy: str | None = None
    demand_response_event: str | None = None
    signal_id: str | None = None
    dry_run: bool = False
    """Planned under a dryRun policy: record the decision, create nothing."""


@dataclass(frozen=True)
class EventOutlook:
    """What the plan does for one DemandResponseEvent."""

    name: str
    zone: str
    target_kw: float
    shed_kw: float
    """kW already out of the zone (moved and still out, or in flight out of it)."""
    planned_kw: float
    """kW this plan adds."""
    missing_kw: float
    """What the fleet cannot shed now: target minus shed minus planned, at least 0."""


@dataclass(frozen=True)
class Plan:
    """The planner's answer for one snapshot and clock."""

    at: datetime
    intents: tuple[Intent, ...]
    decisions: tuple[Decision, ...]
    events: tuple[EventOutlook, ...] = ()
    wake_at: tuple[datetime, ...] = ()
    """Future times the plan should be made again (a pre-emptive move's start, the end of a
    dwell, cooldown or hysteresis period), earliest first."""

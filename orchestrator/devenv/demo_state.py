"""What the demo reads back from the hub, and the summary it computes: pure parsing.

:func:`parse_state` turns one ``kubectl get gridzones,memberclusters,inferenceworkloads,
migrations,demandresponseevents -A -o json`` answer into a :class:`HubState`; :func:`summarize`
turns the last state, the dispatch's measurements and the saving into a :class:`Summary`.
Nothing here talks to a cluster.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

LEDGER_TABLES = (
    "grid_signals",
    "dr_events",
    "dr_event_transitions",
    "dr_event_samples",
    "decisions",
    "decision_signals",
    "migrations",
    "migration_phases",
)
ENDED = frozenset({"Completed", "RolledBack", "Failed"})
FLEXIBLE_LABEL = "gridshift.io/flexible"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class ZoneState:
    """A GridZone's status as the operator wrote it."""

    name: str
    price: float | None
    level: int
    stale: bool
    active_events: tuple[str, ...]


@dataclass(frozen=True)
class WorkloadState:
    """An InferenceWorkload: where it should live, where it runs, what it draws."""

    namespace: str
    name: str
    home: str
    cluster: str | None
    ready: int
    desired: int
    kw: float
    flexible: bool

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class MigrationState:
    """A Migration with the figures the demo shows."""

    namespace: str
    name: str
    workload: str
    source: str
    target: str
    trigger: str
    phase: str
    created: datetime | None
    started: datetime | None
    duration: float | None
    deadline_seconds: int
    deadline_met: bool | None
    kw_moved: float
    dr_event: str | None
    recorded: bool

    @property
    def ended(self) -> bool:
        return self.phase in ENDED

    def elapsed(self, now: datetime) -> float | None:
        """Seconds since the move started (its duration once it ended)."""
        if self.duration is not None:
            return self.duration
        return None if self.started is None else max(0.0, (now - self.started).total_seconds())


@dataclass(frozen=True)
class DrEventState:
    """A DemandResponseEvent with its accounting."""

    name: str
    zone: str
    state: str
    shed_kw: float | None
    import_cap_kw: float | None
    achieved_kw: float
    deadline_seconds: int
    created: datetime | None


@dataclass(frozen=True)
class HubState:
    """Everything of gridshift's in the hub at one moment."""

    zones: Mapping[str, ZoneState]
    cluster_zones: Mapping[str, str]
    workloads: tuple[WorkloadState, ...]
    migrations: tuple[MigrationState, ...]
    events: tuple[DrEventState, ...]

    def zone_of(self, cluster: str | None) -> str | None:
        """The zone of member ``cluster`` (its own name when no MemberCluster says)."""
        return None if cluster is None else self.cluster_zones.get(cluster, cluster)

    def draw_kw(self, zone: str) -> float:
        """kW of every workload running in ``zone`` now, all namespaces."""
        return sum(w.kw for w in self.workloads if self.zone_of(w.cluster) == zone)

    def in_namespace(self, namespace: str) -> list[WorkloadState]:
        return [w for w in self.workloads if w.namespace == namespace]


def _workload(item: Mapping[str, Any]) -> WorkloadState:
    meta, spec, status = item["metadata"], item.get("spec") or {}, item.get("status") or {}
    template = spec.get("template") or {}
    replicas = int(template.get("replicas", 1))
    power = spec.get("power") or {}
    each = _float(power.get("kwPerReplica"))
    if each is None:
        each = int(power.get("gpusPerReplica", 0)) * int(power.get("wattsPerGPU", 0)) / 1000.0
    return WorkloadState(
        namespace=meta.get("namespace", ""),
        name=meta["name"],
        home=str((spec.get("placement") or {}).get("homeCluster", "")),
        cluster=status.get("currentCluster"),
        ready=int(status.get("readyReplicas", 0) or 0),
        desired=replicas,
        kw=replicas * each,
        flexible=(meta.get("labels") or {}).get(FLEXIBLE_LABEL) == "true",
    )


def _migration(item: Mapping[str, Any]) -> MigrationState:
    meta, spec, status = item["metadata"], item.get("spec") or {}, item.get("status") or {}
    reason = spec.get("reason") or {}
    times = status.get("phaseTimes") or {}
    return MigrationState(
        namespace=meta.get("namespace", ""),
        name=meta["name"],
        workload=spec.get("workload", ""),
        source=spec.get("fromCluster", ""),
        target=spec.get("toCluster", ""),
        trigger=str(reason.get("trigger", "Manual")),
        phase=str(status.get("phase", "Pending")),
        created=_time(meta.get("creationTimestamp")),
        started=_time(status.get("startTime")) or _time(times.get("pending")),
        duration=_float(status.get("durationSeconds")),
        deadline_seconds=int(spec.get("deadlineSeconds", 180)),
        deadline_met=status.get("deadlineMet"),
        kw_moved=_float(status.get("kwMoved")) or 0.0,
        dr_event=reason.get("demandResponseEvent"),
        recorded=bool(status.get("ledgerRecorded", False)),
    )


def _event(item: Mapping[str, Any]) -> DrEventState:
    meta, spec, status = item["metadata"], item.get("spec") or {}, item.get("status") or {}
    return DrEventState(
        name=meta["name"],
        zone=spec.get("zone", ""),
        state=str(status.get("state", "Scheduled")),
        shed_kw=_float(spec.get("shedKW")),
        import_cap_kw=_float(spec.get("importCapKW")),
        achieved_kw=_float(status.get("achievedKW")) or 0.0,
        deadline_seconds=int(spec.get("responseDeadlineSeconds", 180)),
        created=_time(meta.get("creationTimestamp")),
    )


def parse_state(document: Mapping[str, Any]) -> HubState:
    """The hub's gridshift objects from a ``kubectl get ... -o json`` List."""
    zones: dict[str, ZoneState] = {}
    clusters: dict[str, str] = {}
    workloads, migrations, events = [], [], []
    for item in document.get("items") or []:
        kind = item.get("kind")
        if kind == "GridZone":
            status = item.get("status") or {}
            zones[item["metadata"]["name"]] = ZoneState(
                name=item["metadata"]["name"],
                price=_float(status.get("pricePerKWh")),
                level=int(status.get("peakLevel", 0) or 0),
                stale=bool(status.get("stale", False)),
                active_events=tuple(status.get("activeEvents") or ()),
            )
        elif kind == "MemberCluster":
            clusters[item["metadata"]["name"]] = str((item.get("spec") or {}).get("zone", ""))
        elif kind == "InferenceWorkload":
            workloads.append(_workload(item))
        elif kind == "Migration":
            migrations.append(_migration(item))
        elif kind == "DemandResponseEvent":
            events.append(_event(item))
    return HubState(
        zones=zones,
        cluster_zones=clusters,
        workloads=tuple(sorted(workloads, key=lambda w: (w.namespace, w.name))),
        migrations=tuple(sorted(migrations, key=lambda m: (m.created or _EPOCH, m.name))),
        events=tuple(sorted(events, key=lambda e: e.name)),
    )


def redact(url: str) -> str:
    """``url`` without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ""
    return urlunsplit((parts.scheme, user + host, parts.path, parts.query, parts.fragment))


@dataclass(frozen=True)
class Dispatch:
    """What the demo measured of the dispatch order."""

    target_kw: float
    draw_before_kw: float
    cap_kw: float
    best_shed_kw: float
    met_after_seconds: float | None
    """Real seconds from the order to the first moment the shed reached the target."""
    event: DrEventState | None


@dataclass(frozen=True)
class TrafficCounts:
    """The answers so far."""

    workload: str
    answered: Counter[str]
    """Complete answers, by the cluster that gave them."""
    failed: int
    cut: int
    """Streams that ended before their last token."""

    @property
    def total_answered(self) -> int:
        return sum(self.answered.values())


@dataclass(frozen=True)
class TrafficSummary:
    """The requests of the whole demo, and of the time a move was in flight."""

    counts: TrafficCounts
    moves: int
    answered_during_moves: int
    failed_during_moves: int
    """Failed or cut, among the requests in flight while a move was."""
    failures: tuple[str, ...]
    """What the first few failures were."""


@dataclass(frozen=True)
class Summary:
    """The demo's closing figures."""

    moves: tuple[MigrationState, ...]
    dispatch: Dispatch | None
    saving: float
    kwh_moved: float
    database_url: str
    namespace: str
    wall_seconds: float
    operator_log: str | None
    traffic: TrafficSummary | None = None
    """The requests to the workload on real pods (None: a fleet without real nodes)."""

    @property
    def in_time(self) -> int:
        return sum(1 for m in self.moves if m.phase == "Completed" and m.deadline_met)


def demo_moves(state: HubState, *, namespace: str, since: datetime) -> tuple[MigrationState, ...]:
    """The migrations of the demo's workloads created since the demo started."""
    return tuple(
        m
        for m in state.migrations
        if m.namespace == namespace and (m.created is None or m.created >= since)
    )


def dispatch_event(events: Sequence[DrEventState], *, zone: str, since: datetime) -> DrEventState:
    """The newest DemandResponseEvent for ``zone`` created since ``since``; LookupError else."""
    found = [e for e in events if e.zone == zone and (e.created is None or e.created >= since)]
    if not found:
        raise LookupError(zone)
    return max(found, key=lambda e: (e.created or since, e.name))

"""The snapshot indexed for planning, and what the plan has booked so far.

:class:`View` is read-only: dictionaries by name over the snapshot, built once per plan.
:class:`Booking` is the one mutable piece: GPUs each cluster still has for this plan and the
moves each policy has used, updated as intents are added, so no two intents share a GPU.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from orchestrator.planner.model import (
    Cluster,
    DemandResponse,
    InFlight,
    Policy,
    Snapshot,
    Zone,
)

HOURLY_WINDOW = timedelta(hours=1)


def in_force(event: DemandResponse, now: datetime) -> bool:
    """An event is in force from its start until its end (no end: until it is withdrawn)."""
    return event.start <= now and (event.end is None or now < event.end)


def _event_order(event: DemandResponse) -> tuple[int, datetime, str]:
    return (-event.priority, event.start, event.name)


@dataclass(frozen=True)
class View:
    """The snapshot by name, for one ``now``."""

    snapshot: Snapshot
    now: datetime
    zones: dict[str, Zone]
    clusters: dict[str, Cluster]
    cluster_names: tuple[str, ...]
    policies: dict[str, Policy]
    in_flight: dict[str, InFlight]
    """In-flight migration by workload key (namespace/name)."""
    pending_gpus: Counter[str]
    in_flight_per_policy: Counter[str]
    recent_per_policy: dict[str, tuple[datetime, ...]]
    """Start times of moves within the last hour, per policy, oldest first."""
    events_in_force: tuple[DemandResponse, ...]
    events_ahead: tuple[DemandResponse, ...]
    dr_zone: dict[str, DemandResponse]
    """The highest-priority event in force per zone."""
    dr_ahead: dict[str, DemandResponse]
    """The earliest scheduled event per zone."""

    @classmethod
    def of(cls, snapshot: Snapshot, now: datetime) -> View:
        in_flight: dict[str, InFlight] = {}
        pending: Counter[str] = Counter()
        per_policy: Counter[str] = Counter()
        for move in snapshot.in_flight:
            in_flight[f"{move.namespace}/{move.workload}"] = move
            pending[move.to_cluster] += move.gpus_pending
            if move.policy is not None:
                per_policy[move.policy] += 1
        recent: dict[str, list[datetime]] = {}
        for past in snapshot.recent_moves:
            if past.policy is not None and now - HOURLY_WINDOW < past.started_at <= now:
                recent.setdefault(past.policy, []).append(past.started_at)
        events = sorted(snapshot.events, key=_event_order)
        forced = tuple(e for e in events if in_force(e, now))
        ahead = tuple(e for e in events if e.start > now)
        dr_zone: dict[str, DemandResponse] = {}
        for event in forced:
            dr_zone.setdefault(event.zone, event)
        dr_ahead: dict[str, DemandResponse] = {}
        for event in sorted(ahead, key=lambda e: (e.start, e.name)):
            dr_ahead.setdefault(event.zone, event)
        clusters = {c.name: c for c in snapshot.clusters}
        return cls(
            snapshot=snapshot,
            now=now,
            zones={z.name: z for z in snapshot.zones},
            clusters=clusters,
            cluster_names=tuple(sorted(clusters)),
            policies={p.name: p for p in snapshot.policies},
            in_flight=in_flight,
            pending_gpus=pending,
            in_flight_per_policy=per_policy,
            recent_per_policy={k: tuple(sorted(v)) for k, v in recent.items()},
            events_in_force=forced,
            events_ahead=ahead,
            dr_zone=dr_zone,
            dr_ahead=dr_ahead,
        )

    def zone_of(self, cluster: str | None) -> str | None:
        """The zone a cluster is in (None for an unknown or missing cluster)."""
        if cluster is None:
            return None
        found = self.clusters.get(cluster)
        return None if found is None else found.zone


@dataclass
class Booking:
    """GPUs still free per cluster for this plan, and moves used per policy."""

    view: View
    gpus: dict[str, int] = field(default_factory=dict)
    planned_per_policy: Counter[str] = field(default_factory=Counter)
    changed: list[str] = field(default_factory=list)
    """Clusters whose GPUs changed, one entry per booking: caches patch what changed since."""

    def __post_init__(self) -> None:
        for name, cluster in self.view.clusters.items():
            self.gpus[name] = cluster.free_gpus - self.view.pending_gpus[name]

    @property
    def epoch(self) -> int:
        """Bookings so far; a cache made at epoch ``e`` is stale for ``changed[e:]``."""
        return len(self.changed)

    def take(self, *, cluster: str, gpus: int, policy: str | None) -> None:
        """Book ``gpus`` on ``cluster`` and one move under ``policy`` for this plan."""
        self.gpus[cluster] = self.gpus.get(cluster, 0) - gpus
        if policy is not None:
            self.planned_per_policy[policy] += 1
        self.changed.append(cluster)

    def release(self, *, cluster: str, gpus: int, policy: str | None) -> None:
        """Undo one :meth:`take` (used while a demand response settles its assignment)."""
        self.gpus[cluster] = self.gpus.get(cluster, 0) + gpus
        if policy is not None:
            self.planned_per_policy[policy] -= 1
        self.changed.append(cluster)

    def concurrent(self, policy: str) -> int:
        """Moves under ``policy`` in flight plus those this plan adds."""
        return self.view.in_flight_per_policy[policy] + self.planned_per_policy[policy]

    def last_hour(self, policy: str) -> int:
        """Moves under ``policy`` started within the last hour plus those this plan adds."""
        return len(self.view.recent_per_policy.get(policy, ())) + self.planned_per_policy[policy]

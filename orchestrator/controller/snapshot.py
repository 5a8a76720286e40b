"""From the hub's objects and the ledger's history to the planner's :class:`Snapshot`.

:func:`build` is pure (objects in, snapshot out) so its mapping is unit-tested without a
cluster; :func:`read_hub` does the reading. Objects that fail validation are left out and
logged: one malformed InferenceWorkload must not stop the planner for everyone else.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from orchestrator.api.drevent import DemandResponseEventSpec, DemandResponseEventStatus
from orchestrator.api.gridzone import GridZoneSpec, GridZoneStatus
from orchestrator.api.membercluster import MemberClusterSpec, MemberClusterStatus
from orchestrator.api.migration import TERMINAL_PHASES, MigrationSpec, MigrationStatus, Phase
from orchestrator.api.policy import MigrationPolicySpec
from orchestrator.api.workload import InferenceWorkloadSpec, InferenceWorkloadStatus
from orchestrator.clusters.hub import HubClient
from orchestrator.planner import learned_seconds, policy_for
from orchestrator.planner.model import (
    Cluster,
    DemandResponse,
    ForecastSlot,
    InFlight,
    LevelChange,
    PeakWindow,
    Policy,
    RecentMove,
    Snapshot,
    Workload,
    Zone,
)

log = logging.getLogger(__name__)

RECENT = timedelta(hours=2)
"""How far back moves count as recent (the hourly limit needs the last hour)."""
ENDED_EVENTS_KEPT = timedelta(hours=1)
"""DemandResponseEvents that ended longer ago than this are no longer read."""
GPUS_NOT_YET_COUNTED: frozenset[Phase] = frozenset({"Pending", "Preflight", "Provisioning"})
"""Phases in which a move's GPUs on the target may not show in the member's freeGPUs yet."""


@dataclass(frozen=True)
class HubObjects:
    """Everything the planner reads from the hub, as the API returned it."""

    zones: list[dict[str, Any]]
    members: list[dict[str, Any]]
    workloads: list[dict[str, Any]]
    policies: list[dict[str, Any]]
    events: list[dict[str, Any]]
    migrations: list[dict[str, Any]]
    namespace_labels: dict[str, dict[str, str]] = field(default_factory=dict)


def read_hub(hub: HubClient) -> HubObjects:
    """List every kind the planner needs (blocking; call in a thread).

    Migrations are read before workloads: a move settles its workload's status before it
    turns Completed, so a move seen in flight may have finished by the time its workload is
    read (the planner holds a workload with a move in flight), but a move seen Completed always
    comes with its workload's new placement.
    """
    migrations = hub.list("migrations")
    return HubObjects(
        zones=hub.list("gridzones"),
        members=hub.list("memberclusters"),
        workloads=hub.list("inferenceworkloads"),
        policies=hub.list("migrationpolicies"),
        events=hub.list("demandresponseevents"),
        migrations=migrations,
        namespace_labels=hub.namespace_labels(),
    )


def _name(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace")
    return f"{namespace}/{meta.get('name')}" if namespace else str(meta.get("name"))


def _valid(kind: str, objects: Iterable[dict[str, Any]]) -> Iterable[tuple[dict[str, Any], Any]]:
    """Each object with its parsed spec; invalid ones are logged and skipped."""
    spec_types: dict[str, Any] = {
        "GridZone": GridZoneSpec,
        "MemberCluster": MemberClusterSpec,
        "InferenceWorkload": InferenceWorkloadSpec,
        "MigrationPolicy": MigrationPolicySpec,
        "DemandResponseEvent": DemandResponseEventSpec,
        "Migration": MigrationSpec,
    }
    for obj in objects:
        try:
            yield obj, spec_types[kind].model_validate(obj.get("spec") or {})
        except ValidationError as exc:
            log.warning("%s %s left out of the plan: invalid spec: %s", kind, _name(obj), exc)


def _status(model: Any, obj: Mapping[str, Any]) -> Any:
    try:
        return model.model_validate(obj.get("status") or {})
    except ValidationError:
        return model()


def zone_of(obj: dict[str, Any], spec: GridZoneSpec, history: Sequence[LevelChange]) -> Zone:
    status: GridZoneStatus = _status(GridZoneStatus, obj)
    name = obj["metadata"]["name"]
    latency = {entry.zone: entry.rtt_milliseconds for entry in spec.latencies}
    latency.setdefault(name, 0)
    green = status.green_power_ratio
    return Zone(
        name=name,
        price_per_kwh=status.price_per_kwh,
        peak_level=status.peak_level,
        green_ratio=green if green is not None else spec.green_power_ratio,
        stale=status.stale,
        signal_id=status.last_signal_id,
        forecast=tuple(
            ForecastSlot(p.start, p.end, p.price_per_kwh, p.peak_level) for p in status.forecast
        ),
        next_peak=(
            None
            if status.next_peak is None
            else PeakWindow(
                status.next_peak.start, status.next_peak.end, status.next_peak.peak_level
            )
        ),
        level_history=tuple(history),
        latency_ms=latency,
    )


def cluster_of(obj: dict[str, Any], spec: MemberClusterSpec) -> Cluster:
    status: MemberClusterStatus = _status(MemberClusterStatus, obj)
    reachable = any(c.type == "Reachable" and c.status == "True" for c in status.conditions)
    return Cluster(
        name=obj["metadata"]["name"],
        zone=spec.zone,
        reachable=reachable,
        free_gpus=status.free_gpus or 0,
        cordoned=spec.cordoned,
    )


def _migration_facts(
    objects: HubObjects,
) -> list[tuple[dict[str, Any], MigrationSpec, MigrationStatus]]:
    return [
        (obj, spec, _status(MigrationStatus, obj))
        for obj, spec in _valid("Migration", objects.migrations)
    ]


def _started(obj: Mapping[str, Any], status: MigrationStatus) -> datetime | None:
    if status.start_time is not None:
        return status.start_time
    created = (obj.get("metadata") or {}).get("creationTimestamp")
    return datetime.fromisoformat(created.replace("Z", "+00:00")) if created else None


def build(
    objects: HubObjects,
    *,
    now: datetime,
    durations: Mapping[tuple[str, str], Sequence[float]],
    level_history: Mapping[str, Sequence[LevelChange]],
) -> Snapshot:
    """The planner's snapshot of the hub's objects, the learned move times and zone history."""
    zones = tuple(
        sorted(
            (
                zone_of(obj, spec, level_history.get(obj["metadata"]["name"], ()))
                for obj, spec in _valid("GridZone", objects.zones)
            ),
            key=lambda z: z.name,
        )
    )
    clusters = tuple(
        sorted(
            (cluster_of(obj, spec) for obj, spec in _valid("MemberCluster", objects.members)),
            key=lambda c: c.name,
        )
    )
    probed = {
        obj["metadata"]["name"]: _status(MemberClusterStatus, obj).last_probe_time
        for obj in objects.members
    }
    policies = tuple(
        sorted(
            (
                Policy(obj["metadata"]["name"], spec)
                for obj, spec in _valid("MigrationPolicy", objects.policies)
            ),
            key=lambda p: p.name,
        )
    )
    migrations = _migration_facts(objects)
    failed_at: dict[tuple[str, str], datetime] = {}
    arrived: dict[tuple[str, str], tuple[datetime, str]] = {}
    for obj, spec, moved in migrations:
        key = (obj["metadata"]["namespace"], spec.workload)
        done = moved.completion_time
        if done is None:
            continue
        if moved.phase in ("RolledBack", "Failed") and (
            key not in failed_at or done > failed_at[key]
        ):
            failed_at[key] = done
        if moved.phase == "Completed" and (key not in arrived or done > arrived[key][0]):
            arrived[key] = (done, spec.to_cluster)

    workloads: list[Workload] = []
    specs: dict[tuple[str, str], InferenceWorkloadSpec] = {}
    for obj, spec in _valid("InferenceWorkload", objects.workloads):
        meta = obj["metadata"]
        key = (meta["namespace"], meta["name"])
        specs[key] = spec
        state: InferenceWorkloadStatus = _status(InferenceWorkloadStatus, obj)
        current, placed = state.current_cluster, state.placed_at
        if key in arrived and (placed is None or placed < arrived[key][0]):
            placed, current = arrived[key]  # the move ended after the status was read
        replicas = spec.template.replicas
        workloads.append(
            Workload(
                namespace=key[0],
                name=key[1],
                current_cluster=current,
                home_cluster=spec.placement.home_cluster,
                replicas=replicas,
                gpus_per_replica=spec.power.gpus_per_replica,
                kw=round(replicas * spec.power.kw_each(), 6),
                policy=policy_for(
                    dict(meta.get("labels") or {}),
                    objects.namespace_labels.get(key[0], {}),
                    policies,
                ),
                allowed_zones=tuple(spec.placement.allowed_zones),
                client_zone=spec.placement.client_zone,
                latency_slo_ms=spec.placement.latency_slo_milliseconds,
                movable=spec.placement.movable,
                placed_at=placed,
                last_failed_at=failed_at.get(key),
                migration_seconds=learned_seconds(list(durations.get(key, ()))),
                deadline_seconds=spec.migration.deadline_seconds,
                priority=spec.migration.priority,
            )
        )
    by_key = {(w.namespace, w.name): w for w in workloads}

    in_flight: list[InFlight] = []
    recent: list[RecentMove] = []
    for obj, spec, moving in migrations:
        namespace = obj["metadata"]["namespace"]
        workload = by_key.get((namespace, spec.workload))
        started = _started(obj, moving) or now
        phase: Phase = moving.phase or "Pending"
        if started >= now - RECENT:
            recent.append(
                RecentMove(
                    namespace=namespace,
                    workload=spec.workload,
                    policy=spec.reason.policy,
                    started_at=started,
                    from_cluster=spec.from_cluster,
                    to_cluster=spec.to_cluster,
                    outcome=phase if phase in TERMINAL_PHASES else None,
                )
            )
        if phase in TERMINAL_PHASES:
            continue
        provisioned = moving.phase_times.provisioning
        last_probe = probed.get(spec.to_cluster)
        not_counted = phase in GPUS_NOT_YET_COUNTED or (
            provisioned is not None and (last_probe is None or last_probe <= provisioned)
        )
        in_flight.append(
            InFlight(
                name=obj["metadata"]["name"],
                namespace=namespace,
                workload=spec.workload,
                from_cluster=spec.from_cluster,
                to_cluster=spec.to_cluster,
                phase=phase,
                started_at=started,
                kw=moving.kw_moved or (workload.kw if workload else 0.0),
                gpus_pending=(workload.gpus if workload and not_counted else 0),
                policy=spec.reason.policy,
                demand_response_event=spec.reason.demand_response_event,
                trigger=spec.reason.trigger,
            )
        )

    events: list[DemandResponse] = []
    for obj, spec in _valid("DemandResponseEvent", objects.events):
        status = _status(DemandResponseEventStatus, obj)
        if status.state == "Cancelled":
            continue
        if spec.window.end is not None and spec.window.end < now - ENDED_EVENTS_KEPT:
            continue
        events.append(
            DemandResponse(
                name=obj["metadata"]["name"],
                zone=spec.zone,
                start=spec.window.start,
                end=spec.window.end,
                shed_kw=spec.shed_kw,
                import_cap_kw=spec.import_cap_kw,
                response_deadline_seconds=spec.response_deadline_seconds,
                priority=spec.priority,
                signal_id=spec.source.event_id,
                responded_at=status.responded_at,
            )
        )

    return Snapshot(
        zones=zones,
        clusters=clusters,
        workloads=tuple(sorted(workloads, key=lambda w: (w.namespace, w.name))),
        policies=policies,
        events=tuple(sorted(events, key=lambda e: e.name)),
        in_flight=tuple(sorted(in_flight, key=lambda m: (m.namespace, m.name))),
        recent_moves=tuple(sorted(recent, key=lambda m: (m.started_at, m.namespace, m.workload))),
    )

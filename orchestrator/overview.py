"""What the ``gridshift`` command reads: the hub's objects as status rows, and the ledger.

:func:`rows_from_objects` is pure (objects and ``now`` in, rows out); :func:`fetch` lists the
objects from the hub; :func:`follow` watches one Migration; :func:`read_migrations`,
:func:`read_decisions`, :func:`read_why` and :func:`read_report` read the ledger. Each failure
leaves as a ``GridshiftError`` whose message says what to set or check.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ValidationError

from orchestrator.api.gridzone import GridZoneStatus
from orchestrator.api.membercluster import MemberClusterStatus
from orchestrator.api.migration import MigrationStatus
from orchestrator.api.workload import InferenceWorkloadStatus
from orchestrator.clusters.hub import HubClient
from orchestrator.clusters.kube import KubeError, client_from_file
from orchestrator.errors import ClusterError, ConfigError, LedgerNotFound
from orchestrator.ledger.handle import Ledger
from orchestrator.ledger.records import DecisionRecord, MigrationRecord, WhyRecord
from orchestrator.planner.model import Plan
from orchestrator.report.compliance import DayReport, event_report
from orchestrator.settings import Settings
from orchestrator.views import ClusterRow, MoveRow, Overview, WorkloadRow, ZoneRow

Obj = Mapping[str, Any]
M = TypeVar("M", bound=BaseModel)
KINDS = ("gridzones", "memberclusters", "inferenceworkloads", "migrations")


# -- settings ---------------------------------------------------------------------------------


def settings() -> Settings:
    """The settings from the environment, read now; a bad value names its variable."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"GRIDSHIFT_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from exc


def hub_kubeconfig(given: Path | None) -> Path:
    """The hub's kubeconfig: ``--kubeconfig``, else ``GRIDSHIFT_KUBECONFIG``."""
    path = given or settings().kubeconfig
    if path is None:
        raise ConfigError(
            "no hub kubeconfig: pass --kubeconfig or set GRIDSHIFT_KUBECONFIG to the kubeconfig "
            "file of the hub cluster (where gridshift's custom resources live)"
        )
    if not path.is_file():
        raise ConfigError(f"the hub kubeconfig {path} does not exist (GRIDSHIFT_KUBECONFIG)")
    return path


def database_url(given: str | None) -> str:
    """The ledger's URL: ``--database-url``, else ``GRIDSHIFT_DATABASE_URL``."""
    if given:
        return given
    found = settings().database_url
    if found is None:
        raise ConfigError(
            "no ledger database: pass --database-url or set GRIDSHIFT_DATABASE_URL to "
            "postgresql+psycopg://user:password@host:port/database"
        )
    return found.get_secret_value()


# -- the hub ----------------------------------------------------------------------------------


def connect(kubeconfig: Path) -> HubClient:
    """A client of the hub."""
    return HubClient(client_from_file(kubeconfig))


def _list(hub: HubClient, plural: str) -> list[dict[str, Any]]:
    try:
        return hub.list(plural)
    except KubeError as exc:
        if exc.not_found:
            raise ClusterError(
                f"the hub serves no {plural}.gridshift.io: install gridshift's CRDs "
                "(`kubectl apply --server-side -f manifests/crds` or the Helm chart)"
            ) from exc
        if exc.unreachable:
            raise ClusterError(f"the hub is unreachable: {exc}") from exc
        raise


def fetch(hub: HubClient, *, now: datetime) -> Overview:
    """Zones, clusters, workloads and migrations as the hub holds them now."""
    objects = {plural: _list(hub, plural) for plural in KINDS}
    return rows_from_objects(
        zones=objects["gridzones"],
        clusters=objects["memberclusters"],
        workloads=objects["inferenceworkloads"],
        migrations=objects["migrations"],
        now=now,
    )


def _status(model: type[M], obj: Obj) -> M:
    """The object's status as the API model; an unreadable one counts as empty."""
    try:
        return model.model_validate(obj.get("status") or {})
    except ValidationError:
        return model.model_validate({})


def _name(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def _namespace(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("namespace", ""))


def zone_row(obj: Obj) -> ZoneRow:
    """One GridZone."""
    status = _status(GridZoneStatus, obj)
    return ZoneRow(
        name=_name(obj),
        price_per_kwh=status.price_per_kwh,
        currency=status.price_currency or (obj.get("spec") or {}).get("currency"),
        unit=status.price_unit,
        peak_level=status.peak_level,
        tou_period=status.tou_period,
        last_signal_time=status.last_signal_time,
        stale=status.stale,
        active_events=tuple(status.active_events),
    )


def cluster_row(obj: Obj) -> ClusterRow:
    """One MemberCluster; reachable from its ``Reachable`` condition."""
    status = _status(MemberClusterStatus, obj)
    spec = obj.get("spec") or {}
    reachable = next((c.status == "True" for c in status.conditions if c.type == "Reachable"), None)
    return ClusterRow(
        name=_name(obj),
        zone=str(spec.get("zone", "")),
        reachable=reachable,
        free_gpus=status.free_gpus,
        allocatable_gpus=status.allocatable_gpus,
        cordoned=bool(spec.get("cordoned", False)),
    )


def workload_row(obj: Obj) -> WorkloadRow:
    """One InferenceWorkload."""
    status = _status(InferenceWorkloadStatus, obj)
    spec = obj.get("spec") or {}
    desired = status.desired_replicas or int((spec.get("template") or {}).get("replicas", 1) or 0)
    return WorkloadRow(
        namespace=_namespace(obj),
        name=_name(obj),
        current_cluster=status.current_cluster,
        home_cluster=str((spec.get("placement") or {}).get("homeCluster", "")),
        ready_replicas=status.ready_replicas,
        desired_replicas=desired,
        power_kw=status.power_kw,
        active_migration=status.active_migration,
    )


def move_row(obj: Obj) -> MoveRow:
    """One Migration."""
    status = _status(MigrationStatus, obj)
    spec = obj.get("spec") or {}
    return MoveRow(
        namespace=_namespace(obj),
        name=_name(obj),
        workload=str(spec.get("workload", "")),
        from_cluster=str(spec.get("fromCluster", "")),
        to_cluster=str(spec.get("toCluster", "")),
        phase=status.phase,
        started_at=status.start_time,
        deadline_seconds=int(spec.get("deadlineSeconds", 180)),
        traffic_percent=status.traffic_percent,
        message=status.message,
        duration_seconds=status.duration_seconds,
        deadline_met=status.deadline_met,
    )


def rows_from_objects(
    *,
    zones: list[dict[str, Any]],
    clusters: list[dict[str, Any]],
    workloads: list[dict[str, Any]],
    migrations: list[dict[str, Any]],
    now: datetime,
) -> Overview:
    """The status screen's rows, sorted by name; only migrations that have not ended."""
    moves = [move_row(m) for m in migrations]
    return Overview(
        at=now,
        zones=tuple(sorted((zone_row(z) for z in zones), key=lambda r: r.name)),
        clusters=tuple(sorted((cluster_row(c) for c in clusters), key=lambda r: r.name)),
        workloads=tuple(
            sorted((workload_row(w) for w in workloads), key=lambda r: (r.namespace, r.name))
        ),
        moves=tuple(sorted((m for m in moves if not m.ended), key=lambda r: (r.namespace, r.name))),
    )


def follow(
    hub: HubClient, namespace: str, name: str, *, on_change: Callable[[MoveRow], None]
) -> MoveRow:
    """Watch one Migration; call ``on_change`` with every version; return it once it ended."""
    try:
        for found in hub.follow("migrations", namespace, name):
            row = move_row(found)
            on_change(row)
            if row.ended:
                return row
    except KubeError as exc:
        raise ClusterError(f"lost the hub while following {namespace}/{name}: {exc}") from exc
    raise ClusterError(f"Migration {namespace}/{name} was deleted before it ended")


# -- the ledger -------------------------------------------------------------------------------


def read_migrations(
    url: str,
    *,
    namespace: str | None,
    workload: str | None,
    since: datetime | None,
    limit: int,
) -> list[MigrationRecord]:
    """Recorded migrations, newest first."""
    ledger = Ledger(url, connect_timeout_seconds=10)
    try:
        return ledger.migration_history(
            namespace=namespace, workload=workload, since=since, limit=limit
        )
    finally:
        ledger.close()


def read_decisions(url: str, *, namespace: str, workload: str, limit: int) -> list[DecisionRecord]:
    """A workload's recorded decisions, newest first."""
    ledger = Ledger(url, connect_timeout_seconds=10)
    try:
        return ledger.decision_history(namespace=namespace, workload=workload, limit=limit)
    finally:
        ledger.close()


def read_why(url: str, *, namespace: str, workload: str, at: datetime) -> WhyRecord:
    """Why the workload moved at ``at``; ``LedgerNotFound`` when no move of it started by then."""
    ledger = Ledger(url, connect_timeout_seconds=10)
    try:
        found = ledger.why(namespace=namespace, workload=workload, at=at)
    finally:
        ledger.close()
    if found is None:
        raise LedgerNotFound(
            f"the ledger holds no move of {namespace}/{workload} started by {at.isoformat()}"
        )
    return found


def read_report(
    url: str,
    *,
    event: str | None,
    day: date,
    timezone: ZoneInfo,
    zone: str | None,
    now: datetime,
) -> DayReport:
    """The DR compliance report of ``event``, or of every event whose window opened on ``day``
    (in ``timezone``, of ``zone`` if given), from the ledger as it is at ``now``."""
    start = datetime.combine(day, time(0), tzinfo=timezone)
    ledger = Ledger(url, connect_timeout_seconds=10)
    try:
        inputs = ledger.report_inputs(
            event=event, since=start, until=start + timedelta(days=1), zone=zone
        )
    finally:
        ledger.close()
    if event is not None and not inputs:
        raise LedgerNotFound(f"the ledger holds no DR event whose object is {event!r}")
    reports = tuple(event_report(i, now=now) for i in inputs)
    label = day if event is None else reports[0].window_start.astimezone(timezone).date()
    return DayReport(day=label.isoformat(), timezone=str(timezone), events=reports)


# -- a one-off plan ---------------------------------------------------------------------------


def plan_now(hub: HubClient, *, now: datetime, url: str | None) -> Plan:
    """What the planner would decide now, from the hub (and, given a ledger URL, the workloads'
    learned migration times); nothing is created or recorded."""
    from orchestrator.controller.planner_loop import LEARNING_WINDOW, gather_snapshot
    from orchestrator.planner import plan

    durations = None
    if url is not None:
        ledger = Ledger(url, connect_timeout_seconds=10)
        try:
            durations = ledger.completed_durations(since=now - LEARNING_WINDOW)
        finally:
            ledger.close()
    try:
        snapshot = gather_snapshot(hub, now=now, durations=durations)
    except KubeError as exc:
        if exc.unreachable:
            raise ClusterError(f"the hub is unreachable: {exc}") from exc
        raise
    return plan(snapshot, now)

"""The six kinds of the gridshift API: names, scope, printer columns and their models."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from orchestrator.api.common import Model
from orchestrator.api.drevent import DemandResponseEventSpec, DemandResponseEventStatus
from orchestrator.api.gridzone import GridZoneSpec, GridZoneStatus
from orchestrator.api.membercluster import MemberClusterSpec, MemberClusterStatus
from orchestrator.api.migration import MigrationSpec, MigrationStatus
from orchestrator.api.policy import MigrationPolicySpec, MigrationPolicyStatus
from orchestrator.api.workload import InferenceWorkloadSpec, InferenceWorkloadStatus

CATEGORY = "gridshift"


@dataclass(frozen=True)
class Column:
    """A column of `kubectl get`."""

    name: str
    type: Literal["string", "integer", "number", "boolean", "date"]
    json_path: str
    description: str
    priority: int = 0


@dataclass(frozen=True)
class Kind:
    """One custom resource kind of the API."""

    kind: str
    plural: str
    short_name: str
    scope: Literal["Cluster", "Namespaced"]
    spec: type[Model]
    status: type[Model]
    description: str
    columns: tuple[Column, ...]
    dns_label_name: bool = False

    @property
    def singular(self) -> str:
        return self.kind.lower()


def _condition(kind: str) -> str:
    return f'.status.conditions[?(@.type=="{kind}")].status'


AGE = Column("Age", "date", ".metadata.creationTimestamp", "Time since the object was created.")

GRID_ZONE = Kind(
    kind="GridZone",
    plural="gridzones",
    short_name="gz",
    scope="Cluster",
    spec=GridZoneSpec,
    status=GridZoneStatus,
    description=(
        "GridZone is one electricity grid (a province): its time-of-use tariff, price feeds, "
        "green-power ratio and OpenADR binding, and in status the price, peak level and "
        "freshness of its signals as gridshift last saw them."
    ),
    columns=(
        Column("Price", "number", ".status.pricePerKWh", "Energy price now, per kWh."),
        Column("Currency", "string", ".spec.currency", "Currency of the price.", priority=1),
        Column("Period", "string", ".status.touPeriod", "Time-of-use period now."),
        Column("Peak", "integer", ".status.peakLevel", "Peak level now, 0-3."),
        Column("Signal", "date", ".status.lastSignalTime", "Age of the newest signal."),
        Column("Stale", "boolean", ".status.stale", "No fresh signal: the planner holds."),
        AGE,
    ),
    dns_label_name=True,
)
MEMBER_CLUSTER = Kind(
    kind="MemberCluster",
    plural="memberclusters",
    short_name="mc",
    scope="Cluster",
    spec=MemberClusterSpec,
    status=MemberClusterStatus,
    description=(
        "MemberCluster is one Kubernetes cluster in a grid zone where inference can run: how "
        "gridshift reaches it, its GPU capacity and its traffic backend."
    ),
    columns=(
        Column("Zone", "string", ".spec.zone", "Grid zone of the cluster."),
        Column("Reachable", "string", _condition("Reachable"), "API server answers."),
        Column("Free GPUs", "integer", ".status.freeGPUs", "GPUs free for moves."),
        Column("Total GPUs", "integer", ".status.allocatableGPUs", "Allocatable GPUs."),
        Column("Version", "string", ".status.kubernetesVersion", "Kubernetes version.", priority=1),
        AGE,
    ),
    dns_label_name=True,
)
INFERENCE_WORKLOAD = Kind(
    kind="InferenceWorkload",
    plural="inferenceworkloads",
    short_name="iw",
    scope="Namespaced",
    spec=InferenceWorkloadSpec,
    status=InferenceWorkloadStatus,
    description=(
        "InferenceWorkload is a model server gridshift places and moves: a Deployment template, "
        "its Service ports, its power draw, where it may run and how it moves."
    ),
    columns=(
        Column("Cluster", "string", ".status.currentCluster", "Cluster it serves from now."),
        Column("Ready", "integer", ".status.readyReplicas", "Ready replicas."),
        Column("Desired", "integer", ".spec.template.replicas", "Replicas it needs."),
        Column("kW", "number", ".status.powerKW", "Power drawn by ready replicas."),
        Column("Migration", "string", ".status.activeMigration", "Move in progress.", priority=1),
        AGE,
    ),
    dns_label_name=True,
)
MIGRATION_POLICY = Kind(
    kind="MigrationPolicy",
    plural="migrationpolicies",
    short_name="mp",
    scope="Cluster",
    spec=MigrationPolicySpec,
    status=MigrationPolicyStatus,
    description=(
        "MigrationPolicy says which workloads move on which grid triggers (peak level, price "
        "spread, demand response, green power), within which guards, and how they return home."
    ),
    columns=(
        Column("Workloads", "integer", ".status.matchedWorkloads", "Workloads it selects."),
        Column("Active", "integer", ".status.activeMigrations", "Moves in progress."),
        Column("Moves/h", "integer", ".status.movesLastHour", "Moves in the last hour."),
        Column("Dry Run", "boolean", ".spec.dryRun", "Decisions only, no moves."),
        AGE,
    ),
)
MIGRATION = Kind(
    kind="Migration",
    plural="migrations",
    short_name="mig",
    scope="Namespaced",
    spec=MigrationSpec,
    status=MigrationStatus,
    description=(
        "Migration is one make-before-break move of an InferenceWorkload from one member cluster "
        "to another, inside a deadline, or rolled back. Created by the planner or by hand."
    ),
    columns=(
        Column("Workload", "string", ".spec.workload", "Workload that moves."),
        Column("From", "string", ".spec.fromCluster", "Source cluster."),
        Column("To", "string", ".spec.toCluster", "Target cluster."),
        Column("Phase", "string", ".status.phase", "Phase of the move."),
        Column("Duration", "number", ".status.durationSeconds", "Seconds from start to end."),
        Column("Deadline Met", "boolean", ".status.deadlineMet", "Finished inside its deadline."),
        Column("Trigger", "string", ".spec.reason.trigger", "Why it moves.", priority=1),
        AGE,
    ),
)
DEMAND_RESPONSE_EVENT = Kind(
    kind="DemandResponseEvent",
    plural="demandresponseevents",
    short_name="dre",
    scope="Cluster",
    spec=DemandResponseEventSpec,
    status=DemandResponseEventStatus,
    description=(
        "DemandResponseEvent is a dispatch order from the grid operator: shed so many kW (or stay "
        "under an import cap) in a zone, within a window, by a response deadline."
    ),
    columns=(
        Column("Zone", "string", ".spec.zone", "Zone that must shed."),
        Column("Start", "date", ".spec.window.start", "Start of the window."),
        Column("End", "string", ".spec.window.end", "End of the window.", priority=1),
        Column("Shed kW", "number", ".spec.shedKW", "kW to shed."),
        Column("Achieved kW", "number", ".status.achievedKW", "kW shed so far."),
        Column("State", "string", ".status.state", "State of the response."),
        AGE,
    ),
)

KINDS: tuple[Kind, ...] = (
    GRID_ZONE,
    MEMBER_CLUSTER,
    INFERENCE_WORKLOAD,
    MIGRATION_POLICY,
    MIGRATION,
    DEMAND_RESPONSE_EVENT,
)

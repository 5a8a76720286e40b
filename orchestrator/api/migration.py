"""Migration: one make-before-break move of a workload from one cluster to another."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from orchestrator.api.common import (
    API_VERSION,
    MAX_GENERATION,
    WORKLOAD_LABEL,
    Conditions,
    DNSLabel,
    DNSSubdomain,
    ExternalId,
    Model,
)

Phase = Literal[
    "Pending",
    "Preflight",
    "Provisioning",
    "WarmingUp",
    "ShiftingTraffic",
    "Draining",
    "Releasing",
    "Completed",
    "RollingBack",
    "RolledBack",
    "Failed",
]
PHASES: tuple[Phase, ...] = get_args(Phase)
"""Every phase, in the order a move goes through them."""
TERMINAL_PHASES: frozenset[Phase] = frozenset({"Completed", "RolledBack", "Failed"})
Trigger = Literal[
    "Manual", "PeakLevel", "PriceSpread", "DemandResponse", "ReturnHome", "GreenRatio", "Preemptive"
]
TRIGGERS: tuple[Trigger, ...] = get_args(Trigger)


class Reason(Model):
    """Why the move was made: the trigger, and the signal or event behind it."""

    trigger: Trigger = Field(default="Manual", description="trigger of the move.")
    message: Annotated[str, StringConstraints(max_length=1024)] = Field(
        default="", description="message for people: why this move."
    )
    signal_id: ExternalId | None = Field(
        default=None, alias="signalID", description="signalID: the ledger's signal behind it."
    )
    demand_response_event: DNSSubdomain | None = Field(
        default=None, description="demandResponseEvent it helps to meet."
    )
    policy: DNSSubdomain | None = Field(default=None, description="policy that chose it.")
    decision_id: int | None = Field(
        default=None,
        alias="decisionID",
        ge=1,
        le=2**53 - 1,  # the API server checks bounds as float64: keep it exact
        description="decisionID: the ledger's planner decision that chose this move (set by "
        "the planner; `gridshift why` follows it to the decision's candidates and signals).",
    )


class MigrationSpec(Model):
    """Which workload moves where, why, and by when."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self.toCluster != self.fromCluster",
                    "message": "toCluster must differ from fromCluster",
                    "fieldPath": ".toCluster",
                },
                {"rule": "self == oldSelf", "message": "a Migration's spec cannot change"},
            ]
        }
    )

    workload: DNSLabel = Field(description="workload: the InferenceWorkload (same namespace).")
    from_cluster: DNSLabel = Field(description="fromCluster: the MemberCluster it runs in now.")
    to_cluster: DNSLabel = Field(description="toCluster: the MemberCluster it moves to.")
    reason: Reason = Field(default_factory=Reason, description="reason for the move.")
    deadline_seconds: int = Field(
        default=180,
        ge=30,
        le=1800,
        description="deadlineSeconds from the start; when it passes the move rolls back.",
    )

    @model_validator(mode="after")
    def _somewhere_else(self) -> MigrationSpec:
        if self.to_cluster == self.from_cluster:
            raise ValueError("toCluster must differ from fromCluster")
        return self


class PhaseTimes(Model):
    """When each phase began."""

    pending: datetime | None = Field(default=None, description="pending began.")
    preflight: datetime | None = Field(default=None, description="preflight began.")
    provisioning: datetime | None = Field(default=None, description="provisioning began.")
    warming_up: datetime | None = Field(default=None, description="warmingUp began.")
    shifting_traffic: datetime | None = Field(default=None, description="shiftingTraffic began.")
    draining: datetime | None = Field(default=None, description="draining began.")
    releasing: datetime | None = Field(default=None, description="releasing began.")
    completed: datetime | None = Field(default=None, description="completed at.")
    rolling_back: datetime | None = Field(default=None, description="rollingBack began.")
    rolled_back: datetime | None = Field(default=None, description="rolledBack at.")
    failed: datetime | None = Field(default=None, description="failed at.")


class MigrationStatus(Model):
    """How the move is going, phase by phase."""

    observed_generation: int | None = Field(
        default=None, ge=0, le=MAX_GENERATION, description="observedGeneration the status is for."
    )
    conditions: Conditions = Field(default_factory=list)
    phase: Phase = Field(default="Pending", description="phase the move is in.")
    phase_times: PhaseTimes = Field(default_factory=PhaseTimes, description="phaseTimes.")
    start_time: datetime | None = Field(default=None, description="startTime of the move.")
    deadline: datetime | None = Field(
        default=None, description="deadline: startTime + deadlineSeconds."
    )
    completion_time: datetime | None = Field(default=None, description="completionTime.")
    duration_seconds: float | None = Field(
        default=None, ge=0, le=100000, description="durationSeconds from start to the end."
    )
    deadline_met: bool | None = Field(default=None, description="deadlineMet: finished in time.")
    replicas: int = Field(default=0, ge=0, le=1000, description="replicas moved.")
    kw_moved: float = Field(
        default=0.0, alias="kwMoved", ge=0, le=10000000, description="kwMoved off the source."
    )
    traffic_percent: int = Field(
        default=0, ge=0, le=100, description="trafficPercent on the target now."
    )
    ledger_recorded: bool = Field(
        default=False, description="ledgerRecorded: the ledger holds the final row."
    )
    message: Annotated[str, StringConstraints(max_length=4096)] = Field(
        default="", description="message for people: what happened, and what to do if it failed."
    )


def new_migration(
    *,
    namespace: str,
    workload: str,
    from_cluster: str,
    to_cluster: str,
    deadline_seconds: int,
    reason: Reason,
    name_hint: str,
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The Migration object to create (the one place one is built): named
    ``<workload>-<name_hint>-<random>`` by the API server, labelled with its workload.

    The API server validates it (bounds, CEL rules): a bad value is its 422, not ours.
    """
    return {
        "apiVersion": API_VERSION,
        "kind": "Migration",
        "metadata": {
            "generateName": f"{workload[:40]}-{name_hint}-",
            "namespace": namespace,
            "labels": {WORKLOAD_LABEL: workload[:63]},
            **({"annotations": dict(annotations)} if annotations else {}),
        },
        "spec": {
            "workload": workload,
            "fromCluster": from_cluster,
            "toCluster": to_cluster,
            "deadlineSeconds": deadline_seconds,
            "reason": reason.wire(),
        },
    }

"""MigrationPolicy: which workloads move on which grid triggers, within which guards."""

from __future__ import annotations

from datetime import datetime

from pydantic import ConfigDict, Field

from orchestrator.api.common import MAX_GENERATION, Conditions, LabelSelector, Model


class PeakTrigger(Model):
    """Move off a zone whose peak level reaches a threshold."""

    enabled: bool = Field(default=True, description="enabled: act on peak levels.")
    at_or_above: int = Field(
        default=2, ge=1, le=3, description="atOrAbove: the peak level that triggers."
    )


class PriceSpreadTrigger(Model):
    """Move when another zone is cheaper by enough, for long enough."""

    enabled: bool = Field(default=False, description="enabled: act on price spreads.")
    min_spread_per_kwh: float = Field(
        default=0.2,
        alias="minSpreadPerKWh",
        gt=0,
        le=100,
        description="minSpreadPerKWh: the price difference that counts, in the zones' currency.",
    )
    min_duration_seconds: int = Field(
        default=3600,
        ge=0,
        le=86400,
        description="minDurationSeconds the spread must last (forecast) to be worth a move.",
    )


class DemandResponseTrigger(Model):
    """Shed what a dispatch order asks for."""

    enabled: bool = Field(default=True, description="enabled: respond to DemandResponseEvents.")


class GreenTrigger(Model):
    """Move towards greener power."""

    enabled: bool = Field(default=False, description="enabled: act on green-power ratios.")
    min_improvement: float = Field(
        default=0.2,
        gt=0,
        le=1,
        description="minImprovement of the green-power ratio (0-1) that justifies a move.",
    )


class Triggers(Model):
    """The grid signals this policy acts on."""

    peak_level: PeakTrigger = Field(default_factory=PeakTrigger, description="peakLevel trigger.")
    price_spread: PriceSpreadTrigger = Field(
        default_factory=PriceSpreadTrigger, description="priceSpread trigger."
    )
    demand_response: DemandResponseTrigger = Field(
        default_factory=DemandResponseTrigger, description="demandResponse trigger."
    )
    green_ratio: GreenTrigger = Field(
        default_factory=GreenTrigger, description="greenRatio trigger."
    )


class Guards(Model):
    """Limits that keep moves from churning."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self.maxMovesPerHour >= self.maxConcurrent",
                    "message": "maxMovesPerHour must be at least maxConcurrent",
                }
            ]
        }
    )

    min_dwell_seconds: int = Field(
        default=900,
        ge=0,
        le=86400,
        description="minDwellSeconds a workload stays where it arrived before moving again.",
    )
    cooldown_seconds: int = Field(
        default=300,
        ge=0,
        le=86400,
        description="cooldownSeconds after a rolled-back or failed move before trying again.",
    )
    max_concurrent: int = Field(
        default=5, ge=1, le=500, description="maxConcurrent moves under this policy at once."
    )
    max_moves_per_hour: int = Field(
        default=20, ge=1, le=10000, description="maxMovesPerHour under this policy."
    )
    saving_must_exceed_cost: bool = Field(
        default=True,
        description="savingMustExceedCost: skip moves whose expected saving is smaller.",
    )
    move_cost_per_kw: float = Field(
        default=0.05,
        alias="moveCostPerKW",
        ge=0,
        le=100,
        description="moveCostPerKW: what one move costs, per kW moved, in the zones' currency.",
    )


class ReturnHome(Model):
    """Bring workloads home after the peak, with hysteresis."""

    enabled: bool = Field(default=True, description="enabled: return home after the peak.")
    below_peak_level: int = Field(
        default=1,
        ge=0,
        le=2,
        description="belowPeakLevel the home zone must fall to (strictly below).",
    )
    hysteresis_seconds: int = Field(
        default=900,
        ge=0,
        le=86400,
        description="hysteresisSeconds the home zone must stay calm before the return.",
    )


class MigrationPolicySpec(Model):
    """Which workloads move, on which triggers, within which guards."""

    workload_selector: LabelSelector = Field(
        default_factory=LabelSelector,
        description="workloadSelector picks InferenceWorkloads by label.",
    )
    namespace_selector: LabelSelector = Field(
        default_factory=LabelSelector, description="namespaceSelector picks their namespaces."
    )
    triggers: Triggers = Field(default_factory=Triggers, description="triggers to act on.")
    guards: Guards = Field(default_factory=Guards, description="guards against churn.")
    return_home: ReturnHome = Field(default_factory=ReturnHome, description="returnHome rule.")
    preemption_lead_seconds: int = Field(
        default=0,
        ge=0,
        le=7200,
        description=(
            "preemptionLeadSeconds: start moves this long before a forecast peak; 0 means use "
            "each workload's learned migration time (p95 from the ledger)."
        ),
    )
    priority: int = Field(
        default=100, ge=0, le=1000, description="priority when several policies select a workload."
    )
    dry_run: bool = Field(
        default=False, description="dryRun: record decisions, create no Migration."
    )


class MigrationPolicyStatus(Model):
    """What the policy has been doing."""

    observed_generation: int | None = Field(
        default=None, ge=0, le=MAX_GENERATION, description="observedGeneration the status is for."
    )
    conditions: Conditions = Field(default_factory=list)
    matched_workloads: int = Field(
        default=0, ge=0, le=1000000, description="matchedWorkloads selected by the policy."
    )
    active_migrations: int = Field(
        default=0, ge=0, le=1000000, description="activeMigrations under the policy now."
    )
    moves_last_hour: int = Field(
        default=0, ge=0, le=1000000, description="movesLastHour started under the policy."
    )
    last_decision_time: datetime | None = Field(
        default=None, description="lastDecisionTime: when the planner last applied it."
    )

"""The ledger's first schema: grid signals, DR events, decisions, migrations and their phases.

Revision ID: 0001
Revises:
Create Date: 2026-11-30

Tables are created parents first (``dr_events`` before ``migrations``, ``migrations`` before
``migration_phases``) and dropped in the reverse order. Closed sets are spelled out here rather
than imported from ``orchestrator.ledger.vocab``: a revision must keep describing the schema it
created even after the code moves on. Constraint names follow the models' naming convention
(``op.f`` marks them as final).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SIGNAL_KINDS = ("price", "peak_level", "dr_event", "carbon_intensity", "green_ratio")
DR_EVENT_KINDS = ("shed", "import_cap")
DR_EVENT_STATES = ("Scheduled", "Active", "Met", "Missed", "Ended", "Cancelled")
DECISION_ACTIONS = ("move", "hold", "return_home")
MIGRATION_TRIGGERS = (
    "Manual",
    "PeakLevel",
    "PriceSpread",
    "DemandResponse",
    "ReturnHome",
    "GreenRatio",
    "Preemptive",
)
MIGRATION_PHASES = (
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
)
MIGRATION_OUTCOMES = ("Completed", "RolledBack", "Failed")


def _one_of(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _id() -> sa.Column[int]:
    return sa.Column(
        "id",
        sa.BigInteger(),
        sa.Identity(always=False),
        nullable=False,
        comment="Row id, assigned by the database.",
    )


def _at(
    name: str, comment: str, *, nullable: bool = False, now: bool = False
) -> sa.Column[datetime]:
    return sa.Column(
        name,
        sa.DateTime(timezone=True),
        server_default=sa.text("now()") if now else None,
        nullable=nullable,
        comment=comment,
    )


def _str(name: str, length: int, comment: str, *, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.String(length=length), nullable=nullable, comment=comment)


def _kw(name: str, comment: str, *, nullable: bool) -> sa.Column[Decimal]:
    return sa.Column(name, sa.Numeric(precision=14, scale=3), nullable=nullable, comment=comment)


def upgrade() -> None:
    """Create the five tables, their constraints and indexes."""
    op.create_table(
        "grid_signals",
        _id(),
        _str(
            "source",
            253,
            "Where the signal came from, as protocol:origin "
            "(openadr:vtn-1, native:sgcc-sh, tou:shanghai).",
        ),
        _str(
            "external_id",
            253,
            "The signal's id at its source (OpenADR event or report id, tariff row id).",
        ),
        _str("zone", 63, "Grid zone (province) the signal applies to."),
        _str(
            "kind",
            32,
            "What the signal measures: price, peak_level, dr_event, carbon_intensity, green_ratio.",
        ),
        _at("interval_start", "Start of the interval the signal covers."),
        _at(
            "interval_end",
            "End of the interval (exclusive); NULL while open-ended.",
            nullable=True,
        ),
        sa.Column(
            "value",
            sa.Numeric(precision=18, scale=6),
            nullable=True,
            comment="The signal's value in unit; NULL when the signal carries none.",
        ),
        _str("unit", 32, "Unit of value: CNY/kWh, level, kW, gCO2/kWh, ratio."),
        sa.Column(
            "payload",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=False,
            comment="The whole normalized signal, as JSON.",
        ),
        _at("received_at", "When the ledger first recorded the signal.", now=True),
        _at(
            "processed_at",
            "When the planner consumed the signal; NULL until then.",
            nullable=True,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grid_signals")),
        sa.UniqueConstraint(
            "source",
            "external_id",
            "interval_start",
            name=op.f("uq_grid_signals_source_external_id_interval_start"),
        ),
        sa.CheckConstraint(_one_of("kind", SIGNAL_KINDS), name=op.f("ck_grid_signals_kind")),
        sa.CheckConstraint(
            "interval_end IS NULL OR interval_end > interval_start",
            name=op.f("ck_grid_signals_interval_ordered"),
        ),
        comment="Grid signals as received and normalized: prices, peak levels, "
        "demand-response notices, carbon intensity, green ratio. One row per source, "
        "external id and interval start.",
    )
    op.create_index(
        op.f("ix_grid_signals_zone_interval_start"), "grid_signals", ["zone", "interval_start"]
    )

    op.create_table(
        "dr_events",
        _id(),
        _str("source", 253, "Where the event came from (openadr:vtn-1, ...)."),
        _str("external_id", 253, "The event's id at its source."),
        _str("zone", 63, "Grid zone (province) asked to respond."),
        _str(
            "kind",
            32,
            "shed: reduce load by target_kw; import_cap: stay under target_kw of imports.",
        ),
        _kw("target_kw", "Load to shed, or import cap, in kW.", nullable=False),
        _at("window_start", "When the event's window opens."),
        _at(
            "window_end",
            "When the window closes (exclusive); NULL while open-ended.",
            nullable=True,
        ),
        sa.Column(
            "response_deadline_seconds",
            sa.Integer(),
            nullable=False,
            comment="Seconds after window_start by which the response must be in place.",
        ),
        _str("state", 32, "Scheduled, Active, Met, Missed, Ended or Cancelled."),
        _kw(
            "achieved_kw",
            "Load actually shed (or import reduction) in kW; NULL until measured.",
            nullable=True,
        ),
        _at(
            "responded_at",
            "When gridshift's response was in place; NULL until then.",
            nullable=True,
        ),
        _str(
            "k8s_name",
            253,
            "Name of the Kubernetes object mirroring the event; NULL if none.",
            nullable=True,
        ),
        _at("created_at", "When the ledger first recorded the event.", now=True),
        _at("updated_at", "When the row last changed.", now=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dr_events")),
        sa.UniqueConstraint("source", "external_id", name=op.f("uq_dr_events_source_external_id")),
        sa.CheckConstraint(_one_of("kind", DR_EVENT_KINDS), name=op.f("ck_dr_events_kind")),
        sa.CheckConstraint(_one_of("state", DR_EVENT_STATES), name=op.f("ck_dr_events_state")),
        sa.CheckConstraint("target_kw > 0", name=op.f("ck_dr_events_target_kw_positive")),
        sa.CheckConstraint(
            "achieved_kw IS NULL OR achieved_kw >= 0",
            name=op.f("ck_dr_events_achieved_kw_nonnegative"),
        ),
        sa.CheckConstraint(
            "response_deadline_seconds > 0",
            name=op.f("ck_dr_events_response_deadline_positive"),
        ),
        sa.CheckConstraint(
            "window_end IS NULL OR window_end > window_start",
            name=op.f("ck_dr_events_window_ordered"),
        ),
        comment="Demand-response events from the grid, one row per source and external id, "
        "with the state of gridshift's response.",
    )
    op.create_index(op.f("ix_dr_events_zone_window_start"), "dr_events", ["zone", "window_start"])

    op.create_table(
        "decisions",
        _id(),
        _at("decided_at", "The planner's clock when it decided."),
        _str("namespace", 63, "Namespace of the workload decided about."),
        _str("workload", 253, "Name of the workload decided about."),
        _str(
            "zone",
            63,
            "Grid zone whose signal prompted the decision; NULL if none did.",
            nullable=True,
        ),
        _str("action", 32, "move, hold or return_home."),
        _str("reason", 2000, "Why, in words a person on call can act on."),
        _str(
            "chosen_cluster",
            63,
            "Destination cluster; required unless the action is hold.",
            nullable=True,
        ),
        sa.Column(
            "candidates",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=False,
            comment="Every cluster considered, as a JSON list of {cluster, total, terms: "
            "{energy_cost, peak, green, latency, capacity}}.",
        ),
        _str("plan_id", 253, "Id of the plan this decision belongs to, if any.", nullable=True),
        sa.Column(
            "migration_uid",
            sa.Uuid(),
            nullable=True,
            comment="Uid of the Migration the decision started, if any. Not a foreign key: "
            "the decision can be written before the migration's first row.",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decisions")),
        sa.CheckConstraint(_one_of("action", DECISION_ACTIONS), name=op.f("ck_decisions_action")),
        sa.CheckConstraint(
            "action = 'hold' OR chosen_cluster IS NOT NULL",
            name=op.f("ck_decisions_destination_when_moving"),
        ),
        comment="Planner decisions: what was chosen for a workload, why, and the scores.",
    )
    op.create_index(
        op.f("ix_decisions_namespace_workload_decided_at"),
        "decisions",
        ["namespace", "workload", "decided_at"],
    )
    op.create_index(op.f("ix_decisions_zone_decided_at"), "decisions", ["zone", "decided_at"])

    op.create_table(
        "migrations",
        sa.Column(
            "id",
            sa.Uuid(),
            autoincrement=False,
            nullable=False,
            comment="The Migration object's Kubernetes uid (metadata.uid).",
        ),
        _str("namespace", 63, "Namespace of the Migration and its workload."),
        _str("name", 253, "Name of the Migration object."),
        _str("workload", 253, "Workload moved."),
        _str("from_cluster", 63, "Cluster the workload left."),
        _str("to_cluster", 63, "Cluster the workload went to."),
        sa.Column("reason", sa.Text(), nullable=False, comment="Why the move was made."),
        _str(
            "trigger",
            32,
            "What started it: Manual, PeakLevel, PriceSpread, DemandResponse, ReturnHome, "
            "GreenRatio, Preemptive.",
        ),
        sa.Column(
            "dr_event_id",
            sa.BigInteger(),
            nullable=True,
            comment="The demand-response event this move answers, if any.",
        ),
        sa.Column(
            "deadline_seconds",
            sa.Integer(),
            nullable=False,
            comment="Seconds the move had to complete in, from started_at.",
        ),
        _at("started_at", "When the migration started."),
        _at("finished_at", "When it reached its outcome; NULL while running.", nullable=True),
        _str("phase", 32, "Current phase: the latest phase entered, or the outcome once finished."),
        _str("outcome", 32, "Completed, RolledBack or Failed; NULL while running.", nullable=True),
        sa.Column(
            "deadline_met",
            sa.Boolean(),
            nullable=True,
            comment="Whether it finished within deadline_seconds; NULL while running.",
        ),
        _kw(
            "kw_moved",
            "Power draw moved out of from_cluster's zone, in kW; NULL if not measured.",
            nullable=True,
        ),
        sa.Column("replicas", sa.Integer(), nullable=False, comment="Replicas moved."),
        sa.Column(
            "message", sa.Text(), nullable=True, comment="Last human-readable status message."
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_migrations")),
        sa.ForeignKeyConstraint(
            ["dr_event_id"], ["dr_events.id"], name=op.f("fk_migrations_dr_event_id_dr_events")
        ),
        sa.CheckConstraint(
            _one_of("trigger", MIGRATION_TRIGGERS), name=op.f("ck_migrations_trigger")
        ),
        sa.CheckConstraint(_one_of("phase", MIGRATION_PHASES), name=op.f("ck_migrations_phase")),
        sa.CheckConstraint(
            f"outcome IS NULL OR {_one_of('outcome', MIGRATION_OUTCOMES)}",
            name=op.f("ck_migrations_outcome"),
        ),
        sa.CheckConstraint(
            "outcome IS NULL OR phase = outcome", name=op.f("ck_migrations_phase_matches_outcome")
        ),
        sa.CheckConstraint(
            "(outcome IS NULL) = (finished_at IS NULL)",
            name=op.f("ck_migrations_finished_with_outcome"),
        ),
        sa.CheckConstraint(
            "finished_at IS NULL OR finished_at >= started_at",
            name=op.f("ck_migrations_finished_after_started"),
        ),
        sa.CheckConstraint(
            "from_cluster <> to_cluster", name=op.f("ck_migrations_clusters_differ")
        ),
        sa.CheckConstraint("deadline_seconds > 0", name=op.f("ck_migrations_deadline_positive")),
        sa.CheckConstraint("replicas >= 0", name=op.f("ck_migrations_replicas_nonnegative")),
        sa.CheckConstraint(
            "kw_moved IS NULL OR kw_moved >= 0", name=op.f("ck_migrations_kw_moved_nonnegative")
        ),
        comment="Live migrations of workloads between clusters, one row per Migration.",
    )
    op.create_index(
        op.f("ix_migrations_namespace_workload_started_at"),
        "migrations",
        ["namespace", "workload", "started_at"],
    )
    op.create_index(
        op.f("ix_migrations_from_cluster_started_at"), "migrations", ["from_cluster", "started_at"]
    )
    op.create_index(
        op.f("ix_migrations_to_cluster_started_at"), "migrations", ["to_cluster", "started_at"]
    )

    op.create_table(
        "migration_phases",
        _id(),
        sa.Column(
            "migration_id",
            sa.Uuid(),
            nullable=False,
            comment="The migration (its Kubernetes uid).",
        ),
        _str("phase", 32, "Phase name: Pending, Preflight, ... RolledBack, Failed."),
        _at("started_at", "When the migration entered the phase."),
        _at("finished_at", "When it left the phase; NULL while in it.", nullable=True),
        sa.Column("message", sa.Text(), nullable=True, comment="What happened in the phase."),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_migration_phases")),
        sa.ForeignKeyConstraint(
            ["migration_id"],
            ["migrations.id"],
            name=op.f("fk_migration_phases_migration_id_migrations"),
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "migration_id", "phase", name=op.f("uq_migration_phases_migration_id_phase")
        ),
        sa.CheckConstraint(
            _one_of("phase", MIGRATION_PHASES), name=op.f("ck_migration_phases_phase")
        ),
        sa.CheckConstraint(
            "finished_at IS NULL OR finished_at >= started_at",
            name=op.f("ck_migration_phases_finished_after_started"),
        ),
        comment="Phases each migration went through, one row per migration and phase.",
    )


def downgrade() -> None:
    """Drop the five tables, children first; their indexes and constraints go with them."""
    op.drop_table("migration_phases")
    op.drop_table("migrations")
    op.drop_table("decisions")
    op.drop_table("dr_events")
    op.drop_table("grid_signals")

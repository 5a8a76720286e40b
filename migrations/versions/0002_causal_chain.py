"""The causal chain: migrations name their decision, decisions their signals and DR event, and
DR events keep their states, outcome and shed curve.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07

What it adds, all nullable or new, so every row of 0001 stays valid as it is:

- ``grid_signals.dr_event_id``: the DR event a ``dr_event`` signal ordered;
- ``dr_events``: ``missing_kw``, ``met_at``, ``outcome`` (Met/Missed) and ``outcome_at``, and a
  unique ``k8s_name`` (one row per DemandResponseEvent object);
- ``dr_event_transitions`` (each state entered, and when) and ``dr_event_samples`` (the shed
  curve);
- ``decisions``: ``trigger``, ``dr_event_id``, ``signal_external_id``, ``chosen_zone``, and a
  unique ``migration_uid`` (one decision per Migration it created);
- ``decision_signals``: the signals behind each decision;
- ``migrations``: ``decision_id`` and ``signal_external_id``.

Downgrading drops exactly these, and with them the chain they held; the rows of 0001 remain.
Closed sets are spelled out, as in 0001.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DR_EVENT_STATES = ("Scheduled", "Active", "Met", "Missed", "Ended", "Cancelled")
DR_EVENT_OUTCOMES = ("Met", "Missed")
MIGRATION_TRIGGERS = (
    "Manual",
    "PeakLevel",
    "PriceSpread",
    "DemandResponse",
    "ReturnHome",
    "GreenRatio",
    "Preemptive",
)


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


def _ref(name: str, comment: str, *, nullable: bool = True) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger(), nullable=nullable, comment=comment)


def _at(name: str, comment: str, *, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable, comment=comment)


def _str(name: str, length: int, comment: str, *, nullable: bool = True) -> sa.Column[str]:
    return sa.Column(name, sa.String(length=length), nullable=nullable, comment=comment)


def _kw(name: str, comment: str, *, nullable: bool) -> sa.Column[Decimal]:
    return sa.Column(name, sa.Numeric(precision=14, scale=3), nullable=nullable, comment=comment)


def upgrade() -> None:
    """Add the columns and tables of the chain, parents before children."""
    # grid_signals -> dr_events
    op.add_column(
        "grid_signals",
        _ref(
            "dr_event_id",
            "The demand-response event this signal ordered (kind dr_event); NULL otherwise.",
        ),
    )
    op.create_foreign_key(
        op.f("fk_grid_signals_dr_event_id_dr_events"),
        "grid_signals",
        "dr_events",
        ["dr_event_id"],
        ["id"],
    )
    op.create_index(op.f("ix_grid_signals_dr_event_id"), "grid_signals", ["dr_event_id"])

    # dr_events: how the response went
    op.add_column(
        "dr_events",
        _kw(
            "missing_kw",
            "kW still missing from the target when last observed; NULL until observed.",
            nullable=True,
        ),
    )
    op.add_column(
        "dr_events",
        _at(
            "met_at",
            "When the target was first reached, at or after the window's start; NULL until then.",
            nullable=True,
        ),
    )
    op.add_column(
        "dr_events",
        _str(
            "outcome",
            32,
            "Met (target reached by the response deadline) or Missed; NULL until decided.",
        ),
    )
    op.add_column(
        "dr_events",
        _at(
            "outcome_at",
            "When the outcome was decided: met_at when Met, the response deadline when Missed.",
            nullable=True,
        ),
    )
    op.alter_column(
        "dr_events",
        "state",
        existing_type=sa.String(length=32),
        existing_nullable=False,
        comment="Scheduled, Active, Met, Missed, Ended (the window closed after Met or Missed; "
        "outcome keeps which) or Cancelled.",
        existing_comment="Scheduled, Active, Met, Missed, Ended or Cancelled.",
    )
    op.create_check_constraint(
        op.f("ck_dr_events_outcome"),
        "dr_events",
        f"outcome IS NULL OR {_one_of('outcome', DR_EVENT_OUTCOMES)}",
    )
    op.create_check_constraint(
        op.f("ck_dr_events_outcome_with_time"),
        "dr_events",
        "(outcome IS NULL) = (outcome_at IS NULL)",
    )
    op.create_check_constraint(
        op.f("ck_dr_events_missing_kw_nonnegative"),
        "dr_events",
        "missing_kw IS NULL OR missing_kw >= 0",
    )
    op.create_unique_constraint(op.f("uq_dr_events_k8s_name"), "dr_events", ["k8s_name"])

    op.create_table(
        "dr_event_transitions",
        _id(),
        _ref("dr_event_id", "The demand-response event.", nullable=False),
        _str("state", 32, "The state entered: Scheduled, Active, Met, ...", nullable=False),
        _at("entered_at", "When gridshift saw the event enter the state."),
        sa.Column(
            "message",
            sa.Text(),
            nullable=True,
            comment="The event's status message at that moment.",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dr_event_transitions")),
        sa.ForeignKeyConstraint(
            ["dr_event_id"],
            ["dr_events.id"],
            name=op.f("fk_dr_event_transitions_dr_event_id_dr_events"),
            ondelete="CASCADE",
        ),
        sa.CheckConstraint(
            _one_of("state", DR_EVENT_STATES), name=op.f("ck_dr_event_transitions_state")
        ),
        comment="The states each DR event went through, one row per state entered.",
    )
    op.create_index(
        op.f("ix_dr_event_transitions_dr_event_id_entered_at"),
        "dr_event_transitions",
        ["dr_event_id", "entered_at"],
    )

    op.create_table(
        "dr_event_samples",
        _id(),
        _ref("dr_event_id", "The demand-response event.", nullable=False),
        _at("sampled_at", "When the figures were observed."),
        _str("state", 32, "The event's state then.", nullable=False),
        _kw(
            "shed_kw",
            "kW of workloads at home in the zone running outside it (finished moves only).",
            nullable=False,
        ),
        _kw("in_flight_kw", "kW of moves made for the event still in flight.", nullable=False),
        _kw("zone_load_kw", "kW still drawn by workloads running in the zone.", nullable=False),
        _kw("missing_kw", "kW still missing from the target.", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dr_event_samples")),
        sa.ForeignKeyConstraint(
            ["dr_event_id"],
            ["dr_events.id"],
            name=op.f("fk_dr_event_samples_dr_event_id_dr_events"),
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "dr_event_id", "sampled_at", name=op.f("uq_dr_event_samples_dr_event_id_sampled_at")
        ),
        sa.CheckConstraint(
            _one_of("state", DR_EVENT_STATES), name=op.f("ck_dr_event_samples_state")
        ),
        sa.CheckConstraint(
            "shed_kw >= 0 AND in_flight_kw >= 0 AND zone_load_kw >= 0 AND missing_kw >= 0",
            name=op.f("ck_dr_event_samples_kw_nonnegative"),
        ),
        comment="The shed curve of each DR event: kW shed, in flight and still drawn in the "
        "zone, sampled when they change and at least every minute while it runs.",
    )

    # decisions -> dr_events, and the signals behind them
    op.add_column(
        "decisions",
        _str(
            "trigger",
            32,
            "The rule that decided: PeakLevel, PriceSpread, DemandResponse, ReturnHome, "
            "GreenRatio, Preemptive; NULL when none applied.",
        ),
    )
    op.add_column(
        "decisions",
        _ref("dr_event_id", "The demand-response event the decision answers, if any."),
    )
    op.add_column(
        "decisions",
        _str(
            "signal_external_id",
            253,
            "External id of the signal the planner named as the cause (the zone's newest, "
            "or the DR order's); NULL if none.",
        ),
    )
    op.add_column(
        "decisions",
        _str("chosen_zone", 63, "Grid zone of chosen_cluster; NULL when holding."),
    )
    op.alter_column(
        "decisions",
        "migration_uid",
        existing_type=sa.Uuid(),
        existing_nullable=True,
        comment="Uid of the Migration the decision started, if any. Not a foreign key: the "
        "decision is written before the migration's first row.",
        existing_comment="Uid of the Migration the decision started, if any. Not a foreign "
        "key: the decision can be written before the migration's first row.",
    )
    op.create_foreign_key(
        op.f("fk_decisions_dr_event_id_dr_events"),
        "decisions",
        "dr_events",
        ["dr_event_id"],
        ["id"],
    )
    op.create_index(op.f("ix_decisions_dr_event_id"), "decisions", ["dr_event_id"])
    op.create_unique_constraint(op.f("uq_decisions_migration_uid"), "decisions", ["migration_uid"])
    op.create_check_constraint(
        op.f("ck_decisions_trigger"),
        "decisions",
        f"trigger IS NULL OR {_one_of('trigger', MIGRATION_TRIGGERS)}",
    )

    op.create_table(
        "decision_signals",
        _ref("decision_id", "The decision.", nullable=False),
        _ref("signal_id", "A signal behind it.", nullable=False),
        sa.PrimaryKeyConstraint("decision_id", "signal_id", name=op.f("pk_decision_signals")),
        sa.ForeignKeyConstraint(
            ["decision_id"],
            ["decisions.id"],
            name=op.f("fk_decision_signals_decision_id_decisions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["signal_id"],
            ["grid_signals.id"],
            name=op.f("fk_decision_signals_signal_id_grid_signals"),
            ondelete="CASCADE",
        ),
        comment="The grid signals behind each decision: the DR order's, or the one named.",
    )
    op.create_index(op.f("ix_decision_signals_signal_id"), "decision_signals", ["signal_id"])

    # migrations -> decisions
    op.add_column(
        "migrations",
        _ref(
            "decision_id",
            "The planner decision that created the Migration; NULL for one made by hand.",
        ),
    )
    op.add_column(
        "migrations",
        _str(
            "signal_external_id",
            253,
            "External id of the signal the Migration's reason names (spec.reason.signalID).",
        ),
    )
    op.create_foreign_key(
        op.f("fk_migrations_decision_id_decisions"),
        "migrations",
        "decisions",
        ["decision_id"],
        ["id"],
    )
    op.create_index(op.f("ix_migrations_decision_id"), "migrations", ["decision_id"])
    op.create_index(op.f("ix_migrations_dr_event_id"), "migrations", ["dr_event_id"])


def downgrade() -> None:
    """Remove what ``upgrade`` added, children first; the rows of 0001 stay."""
    op.drop_index(op.f("ix_migrations_dr_event_id"), table_name="migrations")
    op.drop_index(op.f("ix_migrations_decision_id"), table_name="migrations")
    op.drop_constraint(
        op.f("fk_migrations_decision_id_decisions"), "migrations", type_="foreignkey"
    )
    op.drop_column("migrations", "signal_external_id")
    op.drop_column("migrations", "decision_id")

    op.drop_table("decision_signals")
    op.drop_constraint(op.f("ck_decisions_trigger"), "decisions", type_="check")
    op.drop_constraint(op.f("uq_decisions_migration_uid"), "decisions", type_="unique")
    op.drop_index(op.f("ix_decisions_dr_event_id"), table_name="decisions")
    op.drop_constraint(op.f("fk_decisions_dr_event_id_dr_events"), "decisions", type_="foreignkey")
    op.alter_column(
        "decisions",
        "migration_uid",
        existing_type=sa.Uuid(),
        existing_nullable=True,
        comment="Uid of the Migration the decision started, if any. Not a foreign key: the "
        "decision can be written before the migration's first row.",
    )
    op.drop_column("decisions", "chosen_zone")
    op.drop_column("decisions", "signal_external_id")
    op.drop_column("decisions", "dr_event_id")
    op.drop_column("decisions", "trigger")

    op.drop_table("dr_event_samples")
    op.drop_table("dr_event_transitions")
    op.drop_constraint(op.f("uq_dr_events_k8s_name"), "dr_events", type_="unique")
    op.drop_constraint(op.f("ck_dr_events_missing_kw_nonnegative"), "dr_events", type_="check")
    op.drop_constraint(op.f("ck_dr_events_outcome_with_time"), "dr_events", type_="check")
    op.drop_constraint(op.f("ck_dr_events_outcome"), "dr_events", type_="check")
    op.alter_column(
        "dr_events",
        "state",
        existing_type=sa.String(length=32),
        existing_nullable=False,
        comment="Scheduled, Active, Met, Missed, Ended or Cancelled.",
    )
    op.drop_column("dr_events", "outcome_at")
    op.drop_column("dr_events", "outcome")
    op.drop_column("dr_events", "met_at")
    op.drop_column("dr_events", "missing_kw")

    op.drop_index(op.f("ix_grid_signals_dr_event_id"), table_name="grid_signals")
    op.drop_constraint(
        op.f("fk_grid_signals_dr_event_id_dr_events"), "grid_signals", type_="foreignkey"
    )
    op.drop_column("grid_signals", "dr_event_id")

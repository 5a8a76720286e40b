"""Planner decisions and migrations: what gridshift chose, why, and how each move went.

decisions         one row per planner decision for a workload (move, hold, return_home),
                  naming its trigger and the DR event it answers
decision_signals  the grid signals behind a decision
migrations        one row per Migration object, keyed by its Kubernetes uid, naming the
                  decision that created it and the DR event it answers
migration_phases  one row per (migration, phase) the migration entered
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from orchestrator.ledger import vocab
from orchestrator.ledger.base import KW_PRECISION, KW_SCALE, Base, one_of, timestamp
from orchestrator.ledger.vocab import JsonValue


class Decision(Base):
    """One planner decision about one workload, with every candidate's score."""

    __tablename__ = "decisions"
    __table_args__ = (
        CheckConstraint(one_of("action", vocab.DECISION_ACTIONS), name="action"),
        CheckConstraint(
            "action = 'hold' OR chosen_cluster IS NOT NULL", name="destination_when_moving"
        ),
        Index(None, "namespace", "workload", "decided_at"),
        Index(None, "zone", "decided_at"),
        Index(None, "dr_event_id"),
        UniqueConstraint("migration_uid"),
        CheckConstraint(
            f"trigger IS NULL OR {one_of('trigger', vocab.MIGRATION_TRIGGERS)}", name="trigger"
        ),
        {"comment": "Planner decisions: what was chosen for a workload, why, and the scores."},
    )

    id: Mapped[int] = mapped_column(
        BigInteger, Identity(), primary_key=True, comment="Row id, assigned by the database."
    )
    decided_at: Mapped[datetime] = timestamp("The planner's clock when it decided.")
    namespace: Mapped[str] = mapped_column(
        String(vocab.NAMESPACE_MAX), comment="Namespace of the workload decided about."
    )
    workload: Mapped[str] = mapped_column(
        String(vocab.NAME_MAX), comment="Name of the workload decided about."
    )
    zone: Mapped[str | None] = mapped_column(
        String(vocab.ZONE_MAX),
        comment="Grid zone whose signal prompted the decision; NULL if none did.",
    )
    action: Mapped[str] = mapped_column(
        String(vocab.LABEL_MAX), comment="move, hold or return_home."
    )
    reason: Mapped[str] = mapped_column(
        String(vocab.REASON_MAX), comment="Why, in words a person on call can act on."
    )
    chosen_cluster: Mapped[str | None] = mapped_column(
        String(vocab.CLUSTER_MAX),
        comment="Destination cluster; required unless the action is hold.",
    )
    candidates: Mapped[list[JsonValue]] = mapped_column(
        JSONB,
        comment="Every cluster considered, as a JSON list of {cluster, total, terms: "
        "{energy_cost, peak, green, latency, capacity}}.",
    )
    plan_id: Mapped[str | None] = mapped_column(
        String(vocab.PLAN_ID_MAX), comment="Id of the plan this decision belongs to, if any."
    )
    migration_uid: Mapped[uuid.UUID | None] = mapped_column(
        Uuid,
        comment="Uid of the Migration the decision started, if any. Not a foreign key: the "
        "decision is written before the migration's first row.",
    )
    trigger: Mapped[str | None] = mapped_column(
        String(vocab.LABEL_MAX),
        comment="The rule that decided: PeakLevel, PriceSpread, DemandResponse, ReturnHome, "
        "GreenRatio, Preemptive; NULL when none applied.",
    )
    dr_event_id: Mapped[int | None] = mapped_column(
        BigInteger,
        ForeignKey("dr_events.id"),
        comment="The demand-response event the decision answers, if any.",
    )
    signal_external_id: Mapped[str | None] = mapped_column(
        String(vocab.EXTERNAL_ID_MAX),
        comment="External id of the signal the planner named as the cause (the zone's newest, "
        "or the DR order's); NULL if none.",
    )
    chosen_zone: Mapped[str | None] = mapped_column(
        String(vocab.ZONE_MAX), comment="Grid zone of chosen_cluster; NULL when holding."
    )


class DecisionSignal(Base):
    """A grid signal behind a planner decision."""

    __tablename__ = "decision_signals"
    __table_args__ = (
        Index(None, "signal_id"),
        {"comment": "The grid signals behind each decision: the DR order's, or the one named."},
    )

    decision_id: Mapped[int] = mapped_column(
        BigInteger,
        ForeignKey("decisions.id", ondelete="CASCADE"),
        primary_key=True,
        comment="The decision.",
    )
    signal_id: Mapped[int] = mapped_column(
        BigInteger,
        ForeignKey("grid_signals.id", ondelete="CASCADE"),
        primary_key=True,
        comment="A signal behind it.",
    )


class Migration(Base):
    """One live migration of a workload between clusters, keyed by the Migration's uid."""

    __tablename__ = "migrations"
    __table_args__ = (
        CheckConstraint(one_of("trigger", vocab.MIGRATION_TRIGGERS), name="trigger"),
        CheckConstraint(one_of("phase", vocab.MIGRATION_PHASES), name="phase"),
        CheckConstraint(
            f"outcome IS NULL OR {one_of('outcome', vocab.MIGRATION_OUTCOMES)}", name="outcome"
        ),
        CheckConstraint("outcome IS NULL OR phase = outcome", name="phase_matches_outcome"),
        CheckConstraint("(outcome IS NULL) = (finished_at IS NULL)", name="finished_with_outcome"),
        CheckConstraint(
            "finished_at IS NULL OR finished_at >= started_at", name="finished_after_started"
        ),
        CheckConstraint("from_cluster <> to_cluster", name="clusters_differ"),
        CheckConstraint("deadline_seconds > 0", name="deadline_positive"),
        CheckConstraint("replicas >= 0", name="replicas_nonnegative"),
        CheckConstraint("kw_moved IS NULL OR kw_moved >= 0", name="kw_moved_nonnegative"),
        Index(None, "namespace", "workload", "started_at"),
        Index(None, "from_cluster", "started_at"),
        Index(None, "to_cluster", "started_at"),
        Index(None, "decision_id"),
        Index(None, "dr_event_id"),
        {"comment": "Live migrations of workloads between clusters, one row per Migration."},
    )

    id: Mapped[uuid.UUID] = mapped_column(
        Uuid,
        primary_key=True,
        autoincrement=False,
        comment="The Migration object's Kubernetes uid (metadata.uid).",
    )
    namespace: Mapped[str] = mapped_column(
        String(vocab.NAMESPACE_MAX), comment="Namespace of the Migration and its workload."
    )
    name: Mapped[str] = mapped_column(
        String(vocab.NAME_MAX), comment="Name of the Migration object."
    )
    workload: Mapped[str] = mapped_column(String(vocab.NAME_MAX), comment="Workload moved.")
    from_cluster: Mapped[str] = mapped_column(
        String(vocab.CLUSTER_MAX), comment="Cluster the workload left."
    )
    to_cluster: Mapped[str] = mapped_column(
        String(vocab.CLUSTER_MAX), comment="Cluster the workload went to."
    )
    reason: Mapped[str] = mapped_column(Text, comment="Why the move was made.")
    trigger: Mapped[str] = mapped_column(
        String(vocab.LABEL_MAX),
        comment="What started it: Manual, PeakLevel, PriceSpread, DemandResponse, ReturnHome, "
        "GreenRatio, Preemptive.",
    )
    dr_event_id: Mapped[int | None] = mapped_column(
        BigInteger,
        ForeignKey("dr_events.id"),
        comment="The demand-response event this move answers, if any.",
    )
    deadline_seconds: Mapped[int] = mapped_column(
        Integer, comment="Seconds the move had to complete in, from started_at."
    )
    started_at: Mapped[datetime] = timestamp("When the migration started.")
    finished_at: Mapped[datetime | None] = timestamp(
        "When it reached its outcome; NULL while running.", nullable=True
    )
    phase: Mapped[str] = mapped_column(
        String(vocab.LABEL_MAX),
        comment="Current phase: the latest phase entered, or the outcome once finished.",
    )
    outcome: Mapped[str | None] = mapped_column(
        String(vocab.LABEL_MAX),
        comment="Completed, RolledBack or Failed; NULL while running.",
    )
    deadline_met: Mapped[bool | None] = mapped_column(
        Boolean, comment="Whether it finished within deadline_seconds; NULL while running."
    )
    kw_moved: Mapped[Decimal | None] = mapped_column(
        Numeric(KW_PRECISION, KW_SCALE),
        comment="Power draw moved out of from_cluster's zone, in kW; NULL if not measured.",
    )
    replicas: Mapped[int] = mapped_column(Integer, comment="Replicas moved.")
    message: Mapped[str | None] = mapped_column(Text, comment="Last human-readable status message.")
    decision_id: Mapped[int | None] = mapped_column(
        BigInteger,
        ForeignKey("decisions.id"),
        comment="The planner decision that created the Migration; NULL for one made by hand.",
    )
    signal_external_id: Mapped[str | None] = mapped_column(
        String(vocab.EXTERNAL_ID_MAX),
        comment="External id of the signal the Migration's reason names (spec.reason.signalID).",
    )

    phases: Mapped[list[MigrationPhase]] = relationship(
        order_by="(MigrationPhase.started_at, MigrationPhase.id)",
        passive_deletes=True,
        lazy="raise",
    )


class MigrationPhase(Base):
    """One phase a migration entered, with when it started and finished."""

    __tablename__ = "migration_phases"
    __table_args__ = (
        UniqueConstraint("migration_id", "phase"),
        CheckConstraint(one_of("phase", vocab.MIGRATION_PHASES), name="phase"),
        CheckConstraint(
            "finished_at IS NULL OR finished_at >= started_at", name="finished_after_started"
        ),
        {"comment": "Phases each migration went through, one row per migration and phase."},
    )

    id: Mapped[int] = mapped_column(
        BigInteger, Identity(), primary_key=True, comment="Row id, assigned by the database."
    )
    migration_id: Mapped[uuid.UUID] = mapped_column(
        Uuid,
        ForeignKey("migrations.id", ondelete="CASCADE"),
        comment="The migration (its Kubernetes uid).",
    )
    phase: Mapped[str] = mapped_column(
        String(vocab.LABEL_MAX), comment="Phase name: Pending, Preflight, ... RolledBack, Failed."
    )
    started_at: Mapped[datetime] = timestamp("When the migration entered the phase.")
    finished_at: Mapped[datetime | None] = timestamp(
        "When it left the phase; NULL while in it.", nullable=True
    )
    message: Mapped[str | None] = mapped_column(Text, comment="What happened in the phase.")

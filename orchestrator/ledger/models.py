"""The ledger's tables, as SQLAlchemy 2 declarative models.

Five tables record what gridshift saw and did::

    grid_signals      one row per (source, external id, interval) a grid signal covered
    dr_events         one row per demand-response event (source, external id), with its state
    decisions         one row per planner decision for a workload (move, hold, return_home)
    migrations        one row per Migration object, keyed by its Kubernetes uid
    migration_phases  one row per (migration, phase) the migration entered

Closed sets (kinds, phases, outcomes, actions, triggers) are plain strings held by CHECK
constraints built from ``orchestrator.ledger.vocab``. Every table and column carries a comment, so
``\\d+ <table>`` in psql explains the schema. Constraint and index names come from the metadata's
naming convention, which Alembic revisions repeat with ``op.f()``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, MappedColumn, mapped_column, relationship

from orchestrator.ledger import vocab
from orchestrator.ledger.vocab import JsonValue

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

_VALUE_PRECISION, _VALUE_SCALE = vocab.SIGNAL_VALUE_DIGITS
_KW_PRECISION, _KW_SCALE = vocab.KW_DIGITS


def _one_of(column: str, values: Iterable[str]) -> str:
    """SQL for a CHECK that ``column`` holds one of ``values`` (our own constants, never input)."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _timestamp(comment: str, *, nullable: bool = False) -> MappedColumn[Any]:
    """A ``timestamptz`` column."""
    return mapped_column(DateTime(timezone=True), nullable=nullable, comment=comment)


class Base(DeclarativeBase):
    """Base of the ledger's models; its metadata names every constraint and index."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class GridSignal(Base):
    """A normalized grid signal for one zone and interval."""

    __tablename__ = "grid_signals"
    __table_args__ = (
        UniqueConstraint("source", "external_id", "interval_start"),
        CheckConstraint(_one_of("kind", vocab.SIGNAL_KINDS), name="kind"),
        CheckConstraint(
            "interval_end IS NULL OR interval_end > interval_start", name="interval_ordered"
        ),
        Index(None, "zone", "interval_start"),
        {
            "comment": "Grid signals as received and normalized: prices, peak levels, "
            "demand-response notices, carbon intensity, green ratio. One row per source, "
            "external id and interval start."
        },
    )

    id: Mapped[int] = mapped_column(
        BigInteger, Identity(), primary_key=True, comment="Row id, assigned by the database."
    )
    source: Mapped[str] = mapped_column(
        String(vocab.SOURCE_MAX),
        comment="Where the signal came from, as protocol:origin "
        "(openadr:vtn-1, native:sgcc-sh, tou:shanghai).",
    )
    external_id: Mapped[str] = mapped_column(
        String(vocab.EXTERNAL_ID_MAX),
        comment="The signal's id at its source (OpenADR event or report id, tariff row id).",
    )
    zone: Mapped[str] = mapped_column(
        String(vocab.ZONE_MAX), comment="Grid zone (province) the signal applies to."
    )
    kind: Mapped[str] = mapped_column(
        String(vocab.LABEL_MAX),
        comment="What the signal measures: price, peak_level, dr_event, carbon_intensity, "
        "green_ratio.",
    )
    interval_start: Mapped[datetime] = _timestamp("Start of the interval the signal covers.")
    interval_end: Mapped[datetime | None] = _timestamp(
        "End of the interval (exclusive); NULL while open-ended.", nullable=True
    )
    value: Mapped[Decimal | None] = mapped_column(
        Numeric(_VALUE_PRECISION, _VALUE_SCALE),
        comment="The signal's value in unit; NULL when the signal carries none.",
    )
    unit: Mapped[str] = mapped_column(
        String(vocab.UNIT_MAX), comment="Unit of value: CNY/kWh, level, kW, gCO2/kWh, ratio."
    )
    payload: Mapped[dict[str, JsonValue]] = mapped_column(
        JSONB, comment="The whole normalized signal, as JSON."
    )
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True),
        server_default=func.now(),
        comment="When the ledger first recorded the signal.",
    )
    processed_at: Mapped[datetime | None] = _timestamp(
        "When the planner consumed the signal; NULL until then.", nullable=True
    )


class DrEvent(Base):
    """A demand-response event: a request to shed load or cap imports in a zone."""

    __tablename__ = "dr_events"
    __table_args__ = (
        UniqueConstraint("source", "external_id"),
        CheckConstraint(_one_of("kind", vocab.DR_EVENT_KINDS), name="kind"),
        CheckConstraint(_one_of("state", vocab.DR_EVENT_STATES), name="state"),
        CheckConstraint("target_kw > 0", name="target_kw_positive"),
        CheckConstraint("achieved_kw IS NULL OR achieved_kw >= 0", name="achieved_kw_nonnegative"),
        CheckConstraint("response_deadline_seconds > 0", name="response_deadline_positive"),
        CheckConstraint("window_end IS NULL OR window_end > window_start", name="window_ordered"),
        Index(None, "zone", "window_start"),
        {
            "comment": "Demand-response events from the grid, one row per source and external "
            "id, with the state of gridshift's response."
        },
    )

    id: Mapped[int] = mapped_column(
        BigInteger, Identity(), primary_key=True, comment="Row id, assigned by the database."
    )
    source: Mapped[str] = mapped_column(
        String(vocab.SOURCE_MAX), comment="Where the event came from (openadr:vtn-1, ...)."
    )
    external_id: Mapped[str] = mapped_column(
        String(vocab.EXTERNAL_ID_MAX), comment="The event's id at its source."
    )
    zone: Mapped[str] = mapped_column(
        String(vocab.ZONE_MAX), comment="Grid zone (province) asked to respond."
    )
    kind: Mapped[str] = mapped_column(
        String(vocab.LABEL_MAX),
        comment="shed: reduce load by target_kw; import_cap: stay under target_kw of imports.",
    )
    target_kw: Mapped[Decimal] = mapped_column(
        Numeric(_KW_PRECISION, _KW_SCALE), comment="Load to shed, or import cap, in kW."
    )
    window_start: Mapped[datetime] = _timestamp("When the event's window opens.")
    window_end: Mapped[datetime | None] = _timestamp(
        "When the window closes (exclusive); NULL while open-ended.", nullable=True
    )
    response_deadline_seconds: Mapped[int] = mapped_column(
        Integer, comment="Seconds after window_start by which the response must be in place."
    )
    state: Mapped[str] = mapped_column(
        String(vocab.LABEL_MAX),
        comment="Scheduled, Active, Met, Missed, Ended or Cancelled.",
    )
    achieved_kw: Mapped[Decimal | None] = mapped_column(
        Numeric(_KW_PRECISION, _KW_SCALE),
        comment="Load actually shed (or import reduction) in kW; NULL until measured.",
    )
    responded_at: Mapped[datetime | None] = _timestamp(
        "When gridshift's response was in place; NULL until then.", nullable=True
    )
    k8s_name: Mapped[str | None] = mapped_column(
        String(vocab.NAME_MAX),
        comment="Name of the Kubernetes object mirroring the event; NULL if none.",
    )
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True),
        server_default=func.now(),
        comment="When the ledger first recorded the event.",
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True),
        server_default=func.now(),
        comment="When the row last changed.",
    )


class Decision(Base):
    """One planner decision about one workload, with every candidate's score."""

    __tablename__ = "decisions"
    __table_args__ = (
        CheckConstraint(_one_of("action", vocab.DECISION_ACTIONS), name="action"),
        CheckConstraint(
            "action = 'hold' OR chosen_cluster IS NOT NULL", name="destination_when_moving"
        ),
        Index(None, "namespace", "workload", "decided_at"),
        Index(None, "zone", "decided_at"),
        {"comment": "Planner decisions: what was chosen for a workload, why, and the scores."},
    )

    id: Mapped[int] = mapped_column(
        BigInteger, Identity(), primary_key=True, comment="Row id, assigned by the database."
    )
    decided_at: Mapped[datetime] = _timestamp("The planner's clock when it decided.")
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
        "decision can be written before the migration's first row.",
    )


class Migration(Base):
    """One live migration of a workload between clusters, keyed by the Migration's uid."""

    __tablename__ = "migrations"
    __table_args__ = (
        CheckConstraint(_one_of("trigger", vocab.MIGRATION_TRIGGERS), name="trigger"),
        CheckConstraint(_one_of("phase", vocab.MIGRATION_PHASES), name="phase"),
        CheckConstraint(
            f"outcome IS NULL OR {_one_of('outcome', vocab.MIGRATION_OUTCOMES)}", name="outcome"
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
    started_at: Mapped[datetime] = _timestamp("When the migration started.")
    finished_at: Mapped[datetime | None] = _timestamp(
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
        Numeric(_KW_PRECISION, _KW_SCALE),
        comment="Power draw moved out of from_cluster's zone, in kW; NULL if not measured.",
    )
    replicas: Mapped[int] = mapped_column(Integer, comment="Replicas moved.")
    message: Mapped[str | None] = mapped_column(Text, comment="Last human-readable status message.")

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
        CheckConstraint(_one_of("phase", vocab.MIGRATION_PHASES), name="phase"),
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
    started_at: Mapped[datetime] = _timestamp("When the migration entered the phase.")
    finished_at: Mapped[datetime | None] = _timestamp(
        "When it left the phase; NULL while in it.", nullable=True
    )
    message: Mapped[str | None] = mapped_column(Text, comment="What happened in the phase.")

"""Grid signals and demand-response events: what the grid said, and how each order went.

grid_signals          one row per (source, external id, interval) a grid signal covered;
                      a DR order's signals name their dr_event
dr_events             one row per demand-response event (source, external id): its state,
                      outcome (Met/Missed) and when
dr_event_transitions  one row per state a DR event entered, and when
dr_event_samples      kW shed, in flight and left in the zone, over time
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator.ledger import vocab
from orchestrator.ledger.base import KW_PRECISION, KW_SCALE, Base, kw, one_of, timestamp
from orchestrator.ledger.vocab import JsonValue

_VALUE_PRECISION, _VALUE_SCALE = vocab.SIGNAL_VALUE_DIGITS


class GridSignal(Base):
    """A normalized grid signal for one zone and interval."""

    __tablename__ = "grid_signals"
    __table_args__ = (
        UniqueConstraint("source", "external_id", "zone", "interval_start"),
        CheckConstraint(one_of("kind", vocab.SIGNAL_KINDS), name="kind"),
        CheckConstraint(
            "interval_end IS NULL OR interval_end > interval_start", name="interval_ordered"
        ),
        Index(None, "zone", "interval_start"),
        Index(None, "dr_event_id"),
        Index(None, "zone", postgresql_where=text("processed_at IS NULL")),
        {
            "comment": "Grid signals as received and normalized: prices, peak levels, "
            "demand-response notices, carbon intensity, green ratio. One row per source, "
            "external id, zone and interval start."
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
    interval_start: Mapped[datetime] = timestamp("Start of the interval the signal covers.")
    interval_end: Mapped[datetime | None] = timestamp(
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
    processed_at: Mapped[datetime | None] = timestamp(
        "When the planner consumed the signal; NULL until then.", nullable=True
    )
    dr_event_id: Mapped[int | None] = mapped_column(
        BigInteger,
        ForeignKey("dr_events.id"),
        comment="The demand-response event this signal ordered (kind dr_event); NULL otherwise.",
    )


class DrEvent(Base):
    """A demand-response event: a request to shed load or cap imports in a zone."""

    __tablename__ = "dr_events"
    __table_args__ = (
        UniqueConstraint("source", "external_id"),
        CheckConstraint(one_of("kind", vocab.DR_EVENT_KINDS), name="kind"),
        CheckConstraint(one_of("state", vocab.DR_EVENT_STATES), name="state"),
        CheckConstraint("target_kw > 0", name="target_kw_positive"),
        CheckConstraint("achieved_kw IS NULL OR achieved_kw >= 0", name="achieved_kw_nonnegative"),
        CheckConstraint("response_deadline_seconds > 0", name="response_deadline_positive"),
        CheckConstraint("window_end IS NULL OR window_end > window_start", name="window_ordered"),
        CheckConstraint(
            f"outcome IS NULL OR {one_of('outcome', vocab.DR_EVENT_OUTCOMES)}", name="outcome"
        ),
        CheckConstraint("(outcome IS NULL) = (outcome_at IS NULL)", name="outcome_with_time"),
        CheckConstraint("missing_kw IS NULL OR missing_kw >= 0", name="missing_kw_nonnegative"),
        CheckConstraint(
            f"report_state IS NULL OR {one_of('report_state', vocab.DR_REPORT_STATES)}",
            name="report_state",
        ),
        UniqueConstraint("k8s_name"),
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
        Numeric(KW_PRECISION, KW_SCALE), comment="Load to shed, or import cap, in kW."
    )
    window_start: Mapped[datetime] = timestamp("When the event's window opens.")
    window_end: Mapped[datetime | None] = timestamp(
        "When the window closes (exclusive); NULL while open-ended.", nullable=True
    )
    response_deadline_seconds: Mapped[int] = mapped_column(
        Integer, comment="Seconds after window_start by which the response must be in place."
    )
    state: Mapped[str] = mapped_column(
        String(vocab.LABEL_MAX),
        comment="Scheduled, Active, Met, Missed, Ended (the window closed after Met or "
        "Missed; outcome keeps which) or Cancelled.",
    )
    achieved_kw: Mapped[Decimal | None] = mapped_column(
        Numeric(KW_PRECISION, KW_SCALE),
        comment="Load actually shed (or import reduction) in kW; NULL until measured.",
    )
    responded_at: Mapped[datetime | None] = timestamp(
        "When gridshift's response was in place; NULL until then.", nullable=True
    )
    k8s_name: Mapped[str | None] = mapped_column(
        String(vocab.NAME_MAX),
        comment="Name of the Kubernetes object mirroring the event; NULL if none.",
    )
    missing_kw: Mapped[Decimal | None] = kw(
        "kW still missing from the target when last observed; NULL until observed."
    )
    met_at: Mapped[datetime | None] = timestamp(
        "When the target was first reached, at or after the window's start; NULL until then.",
        nullable=True,
    )
    outcome: Mapped[str | None] = mapped_column(
        String(vocab.LABEL_MAX),
        comment="Met (target reached by the response deadline) or Missed; NULL until decided.",
    )
    outcome_at: Mapped[datetime | None] = timestamp(
        "When the outcome was decided: met_at when Met, the response deadline when Missed.",
        nullable=True,
    )
    report_state: Mapped[str | None] = mapped_column(
        String(vocab.LABEL_MAX),
        comment="Sent (the VTN accepted the outcome's report) or Refused (it answered 4xx; "
        "not sent again); NULL until reported.",
    )
    reported_at: Mapped[datetime | None] = timestamp(
        "When the report was sent or refused.", nullable=True
    )
    report_detail: Mapped[str | None] = mapped_column(
        Text, comment="What the VTN answered to the report, for people."
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


class DrEventTransition(Base):
    """One state a demand-response event entered, and when."""

    __tablename__ = "dr_event_transitions"
    __table_args__ = (
        CheckConstraint(one_of("state", vocab.DR_EVENT_STATES), name="state"),
        Index(None, "dr_event_id", "entered_at"),
        {"comment": "The states each DR event went through, one row per state entered."},
    )

    id: Mapped[int] = mapped_column(
        BigInteger, Identity(), primary_key=True, comment="Row id, assigned by the database."
    )
    dr_event_id: Mapped[int] = mapped_column(
        BigInteger,
        ForeignKey("dr_events.id", ondelete="CASCADE"),
        comment="The demand-response event.",
    )
    state: Mapped[str] = mapped_column(
        String(vocab.LABEL_MAX), comment="The state entered: Scheduled, Active, Met, ..."
    )
    entered_at: Mapped[datetime] = timestamp("When gridshift saw the event enter the state.")
    message: Mapped[str | None] = mapped_column(
        Text, comment="The event's status message at that moment."
    )


class DrEventSample(Base):
    """How far a demand-response event's response had come at one moment."""

    __tablename__ = "dr_event_samples"
    __table_args__ = (
        UniqueConstraint("dr_event_id", "sampled_at"),
        CheckConstraint(one_of("state", vocab.DR_EVENT_STATES), name="state"),
        CheckConstraint(
            "shed_kw >= 0 AND in_flight_kw >= 0 AND zone_load_kw >= 0 AND missing_kw >= 0",
            name="kw_nonnegative",
        ),
        {
            "comment": "The shed curve of each DR event: kW shed, in flight and still drawn "
            "in the zone, sampled when they change and at least every minute while it runs."
        },
    )

    id: Mapped[int] = mapped_column(
        BigInteger, Identity(), primary_key=True, comment="Row id, assigned by the database."
    )
    dr_event_id: Mapped[int] = mapped_column(
        BigInteger,
        ForeignKey("dr_events.id", ondelete="CASCADE"),
        comment="The demand-response event.",
    )
    sampled_at: Mapped[datetime] = timestamp("When the figures were observed.")
    state: Mapped[str] = mapped_column(String(vocab.LABEL_MAX), comment="The event's state then.")
    shed_kw: Mapped[Decimal] = kw(
        "kW of workloads at home in the zone running outside it (finished moves only).",
        nullable=False,
    )
    in_flight_kw: Mapped[Decimal] = kw(
        "kW of moves made for the event still in flight.", nullable=False
    )
    zone_load_kw: Mapped[Decimal] = kw(
        "kW still drawn by workloads running in the zone.", nullable=False
    )
    missing_kw: Mapped[Decimal] = kw("kW still missing from the target.", nullable=False)

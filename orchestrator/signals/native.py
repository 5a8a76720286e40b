"""The native webhook's JSON: a batch of prices, peak levels, carbon figures and DR orders.

``POST /v1/signals`` takes ``{"signals": [...]}`` with 1 to 500 entries, each tagged by
``type``. Every entry carries the operator's own ``id``, which makes it idempotent: sending the
same id (for the same interval start) again changes nothing. Times are RFC 3339 with an offset.
A DR order names either ``shedKW`` or ``importCapKW``; to cancel one, send a new entry of type
``drOrder`` with ``cancel: true`` and the ``eventID`` of the order.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from orchestrator.signals.model import (
    DEFAULT_DEADLINE_SECONDS,
    MAX_PRIORITY,
    DrOrder,
    Signal,
)
from orchestrator.signals.timing import utc

MAX_BATCH = 500
Id = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:/@#+=-]+$")
]
ZoneRef = Annotated[str, StringConstraints(min_length=1, max_length=63)]


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Id = Field(description="id of the signal at its source; repeats are ignored.")
    zone: ZoneRef = Field(description="zone: a GridZone's name or its gridZoneID (CN-SH).")
    start: AwareDatetime = Field(description="start of the interval the signal covers.")
    end: AwareDatetime | None = Field(
        default=None, description="end of the interval (exclusive); unset: until replaced."
    )
    priority: int = Field(default=0, ge=0, le=MAX_PRIORITY, description="priority; lower wins.")

    @model_validator(mode="after")
    def _ordered(self) -> _Entry:
        if self.end is not None and self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class PriceEntry(_Entry):
    """An energy price for an interval."""

    type: Literal["price"]
    value: float = Field(ge=-100, le=100, description="value: the price per unit.")
    currency: Literal["CNY", "EUR", "USD"] = Field(description="currency of the price.")
    unit: Literal["kWh", "MWh"] = Field(default="kWh", description="unit the price is per.")


class PeakLevelEntry(_Entry):
    """A peak level: 0 none, 1 shoulder, 2 peak, 3 critical."""

    type: Literal["peakLevel"]
    level: int = Field(ge=0, le=3, description="level: 0 none, 1 shoulder, 2 peak, 3 critical.")


class CarbonEntry(_Entry):
    """Carbon intensity of the zone's supply."""

    type: Literal["carbonIntensity"]
    value: float = Field(ge=0, le=2000, description="value in gCO2/kWh.")


class GreenRatioEntry(_Entry):
    """Share of renewable power in the zone's supply."""

    type: Literal["greenPowerRatio"]
    value: float = Field(ge=0, le=1, description="value between 0 and 1.")


class DrOrderEntry(_Entry):
    """A demand-response order (or its cancellation)."""

    type: Literal["drOrder"]
    event_id: Id | None = Field(
        default=None,
        alias="eventID",
        description="eventID the order belongs to; defaults to id. Revisions share it.",
    )
    shed_kw: float | None = Field(
        default=None, alias="shedKW", gt=0, le=1e7, description="shedKW to take off the zone."
    )
    import_cap_kw: float | None = Field(
        default=None,
        alias="importCapKW",
        gt=0,
        le=1e7,
        description="importCapKW: the most the zone may draw.",
    )
    response_deadline_seconds: int = Field(
        default=DEFAULT_DEADLINE_SECONDS,
        alias="responseDeadlineSeconds",
        ge=30,
        le=3600,
        description="responseDeadlineSeconds from the start to shed the load.",
    )
    program: Annotated[str, StringConstraints(max_length=128)] | None = Field(
        default=None, description="program the order belongs to."
    )
    cancel: bool = Field(default=False, description="cancel: withdraw the order eventID.")
    issued_at: AwareDatetime | None = Field(
        default=None, alias="issuedAt", description="issuedAt: later revisions win."
    )

    @model_validator(mode="after")
    def _one_target(self) -> DrOrderEntry:
        if not self.cancel and (self.shed_kw is None) == (self.import_cap_kw is None):
            raise ValueError("set exactly one of shedKW and importCapKW")
        return self


Entry = Annotated[
    PriceEntry | PeakLevelEntry | CarbonEntry | GreenRatioEntry | DrOrderEntry,
    Field(discriminator="type"),
]


class SignalBatch(BaseModel):
    """What ``POST /v1/signals`` takes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    signals: list[Entry] = Field(min_length=1, max_length=MAX_BATCH)


class Accepted(BaseModel):
    """What the webhook answers once every signal is in the ledger."""

    accepted: int = Field(description="accepted: signals recorded now.")
    duplicates: int = Field(description="duplicates: signals the ledger already held.")
    ignored: int = Field(default=0, description="ignored: entries that carried no signal.")


class Problem(BaseModel):
    """An error answer: what was wrong, for the operator to fix."""

    detail: str


def to_signal(entry: Entry, *, source: str, zone: str) -> Signal:
    """The normalized signal of one entry, for the resolved ``zone`` (a GridZone name)."""
    base = Signal(
        source=source,
        external_id=entry.id,
        zone=zone,
        kind="price",
        start=utc(entry.start),
        end=None if entry.end is None else utc(entry.end),
        value=None,
        unit="",
        priority=entry.priority,
        event=entry.id,
    )
    if isinstance(entry, PriceEntry):
        value = entry.value / 1000 if entry.unit == "MWh" else entry.value
        return replace(base, value=value, unit=f"{entry.currency}/kWh")
    if isinstance(entry, PeakLevelEntry):
        return replace(base, kind="peak_level", value=float(entry.level), unit="level")
    if isinstance(entry, CarbonEntry):
        return replace(base, kind="carbon_intensity", value=entry.value, unit="g/kWh")
    if isinstance(entry, GreenRatioEntry):
        return replace(base, kind="green_ratio", value=entry.value, unit="ratio")
    return _dr_signal(entry, base)


def _dr_signal(entry: DrOrderEntry, base: Signal) -> Signal:
    event_id = entry.event_id or entry.id
    kw = entry.shed_kw if entry.shed_kw is not None else entry.import_cap_kw
    order = DrOrder(
        event_id=event_id,
        kind="import_cap" if entry.import_cap_kw is not None else "shed",
        kw=0.0 if kw is None else kw,
        window_start=base.start,
        window_end=base.end,
        deadline_seconds=entry.response_deadline_seconds,
        priority=entry.priority,
        source_kind="Native",
        program=entry.program,
        cancelled=entry.cancel,
    )
    return replace(
        base,
        kind="dr_event",
        value=kw,
        unit="kW",
        event=event_id,
        revision="" if entry.issued_at is None else utc(entry.issued_at).isoformat(),
        order=order,
        extra={"cancelled": True} if entry.cancel else {},
    )

"""A demand-response event's compliance, computed from what the ledger holds: pure.

:func:`event_report` turns one event's ledger records (:class:`DrReportInputs`) and the time of
the report into an :class:`EventReport`: the order and its target, the shed curve as sampled,
Met or Missed and when, every move made for it with its phases and causes, the energy those moves
ran outside the zone during the window and the estimated energy-cost saving.

Energy moved: for each completed move, its kW times the hours from its completion to when the
workload left the target again (or the window's end, or the report's time), within the window.
Saving: the same hours priced at the event zone's price minus the target zone's, each the price
signal in force then by the rule the zones' status uses (:func:`orchestrator.signals.zonestate.
current`). Hours without a price in both zones are counted in ``energy_kwh`` but not priced.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from orchestrator.errors import SignalError
from orchestrator.ledger.records import (
    DrEventRecord,
    DrReportInputs,
    DrSampleRecord,
    ReportedMove,
    SignalRecord,
)
from orchestrator.signals.model import StoredSignal
from orchestrator.signals.zonestate import current, effective

HOUR = 3600.0


@dataclass(frozen=True, slots=True)
class CurvePoint:
    """One sample of the shed curve: kW shed (or, for an import cap, drawn) against the target."""

    at: datetime
    state: str
    shed_kw: float
    in_flight_kw: float
    zone_load_kw: float
    missing_kw: float
    target_kw: float
    met: bool


@dataclass(frozen=True, slots=True)
class PhaseLine:
    phase: str
    started_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class MoveLine:
    """One move made for the event, its phases, its causes and what it shed."""

    migration: str
    uid: str
    workload: str
    from_cluster: str
    to_cluster: str
    to_zone: str | None
    trigger: str
    outcome: str | None
    started_at: datetime
    finished_at: datetime | None
    duration_seconds: float | None
    deadline_seconds: int
    deadline_met: bool | None
    kw: float
    phases: tuple[PhaseLine, ...]
    decision_id: int | None
    decided_at: datetime | None
    reason: str
    signals: tuple[str, ...]
    """External ids of the signals behind its decision."""
    away_from: datetime | None
    away_until: datetime | None
    """The part of the window it ran outside the zone (None when it never did)."""
    energy_kwh: float
    saving: float | None
    priced_kwh: float


@dataclass(frozen=True, slots=True)
class EventReport:
    """The compliance of one demand-response event."""

    name: str
    source: str
    external_id: str
    zone: str
    kind: str
    target_kw: float
    window_start: datetime
    window_end: datetime | None
    deadline: datetime
    state: str
    outcome: str | None
    outcome_at: datetime | None
    met_at: datetime | None
    responded_at: datetime | None
    achieved_kw: float | None
    missing_kw: float | None
    peak_shed_kw: float | None
    """The most shed in one sample during the window (for an import cap: the least drawn)."""
    order: tuple[str, ...]
    """External ids of the order's signals, every revision."""
    transitions: tuple[tuple[str, datetime], ...]
    curve: tuple[CurvePoint, ...]
    moves: tuple[MoveLine, ...]
    energy_kwh: float
    saving: float | None
    priced_kwh: float
    currency: str | None


def _f(value: Decimal | float | None) -> float:
    return 0.0 if value is None else round(float(value), 3)


def _met(event: DrEventRecord, sample: DrSampleRecord) -> bool:
    if event.kind == "shed":
        return float(sample.shed_kw) >= float(event.target_kw)
    return float(sample.zone_load_kw) <= float(event.target_kw)


def curve_value(point: CurvePoint, kind: str) -> float:
    """The figure the chart draws against the target: kW shed, or for an import cap, drawn."""
    return point.shed_kw if kind == "shed" else point.zone_load_kw


def _stored(rows: Iterable[SignalRecord]) -> list[StoredSignal]:
    stored = []
    for row in rows:
        try:
            stored.append(StoredSignal.of(row))
        except SignalError:
            continue  # a payload this version cannot read prices nothing
    return effective(stored)


def currency_of(prices: Sequence[SignalRecord]) -> str | None:
    """The currency of a zone's prices (``CNY`` of ``CNY/kWh``), the most common one."""
    counts: dict[str, int] = {}
    for row in prices:
        money, _, per = row.unit.partition("/")
        if per == "kWh" and money:
            counts[money] = counts.get(money, 0) + 1
    return max(sorted(counts), key=lambda c: counts[c]) if counts else None


def _priced(
    kw: float,
    start: datetime,
    end: datetime,
    *,
    home: list[StoredSignal],
    away: list[StoredSignal],
    currency: str,
) -> tuple[float, float]:
    """(saving, kWh priced) of ``kw`` run in the target instead of home over ``[start, end)``."""
    edges = {start, end}
    for stored in (*home, *away):
        for moment in (stored.signal.start, stored.signal.end):
            if moment is not None and start < moment < end:
                edges.add(moment)
    points = sorted(edges)
    saving = priced = 0.0
    for left, right in itertools.pairwise(points):
        middle = left + (right - left) / 2
        here = current(home, "price", now=middle, currency=currency)
        there = current(away, "price", now=middle, currency=currency)
        if here is None or there is None or here.value is None or there.value is None:
            continue
        kwh = kw * (right - left).total_seconds() / HOUR
        priced += kwh
        saving += kwh * (here.value - there.value)
    return saving, priced


def _move_line(
    move: ReportedMove,
    event: DrEventRecord,
    *,
    window_end: datetime,
    prices: Mapping[str, list[StoredSignal]],
    currency: str | None,
) -> MoveLine:
    m, d = move.migration, move.decision
    kw = _f(m.kw_moved)
    away_from = away_until = None
    energy = priced = 0.0
    saving: float | None = None
    if m.outcome == "Completed" and m.finished_at is not None:
        start = max(m.finished_at, event.window_start)
        end = min(move.left_target_at or window_end, window_end)
        if end > start:
            away_from, away_until = start, end
            energy = kw * (end - start).total_seconds() / HOUR
            to_zone = d.chosen_zone if d else None
            if currency is not None and to_zone is not None:
                saving, priced = _priced(
                    kw,
                    start,
                    end,
                    home=prices.get(event.zone, []),
                    away=prices.get(to_zone, []),
                    currency=currency,
                )
    return MoveLine(
        migration=f"{m.namespace}/{m.name}",
        uid=str(m.uid),
        workload=f"{m.namespace}/{m.workload}",
        from_cluster=m.from_cluster,
        to_cluster=m.to_cluster,
        to_zone=d.chosen_zone if d else None,
        trigger=m.trigger,
        outcome=m.outcome,
        started_at=m.started_at,
        finished_at=m.finished_at,
        duration_seconds=m.duration_seconds,
        deadline_seconds=m.deadline_seconds,
        deadline_met=m.deadline_met,
        kw=kw,
        phases=tuple(PhaseLine(p.phase, p.started_at, p.finished_at) for p in m.phases),
        decision_id=m.decision_id,
        decided_at=d.decided_at if d else None,
        reason=d.reason if d else m.reason,
        signals=tuple(s.external_id for s in move.signals),
        away_from=away_from,
        away_until=away_until,
        energy_kwh=round(energy, 3),
        saving=None if saving is None else round(saving, 2),
        priced_kwh=round(priced, 3),
    )


def event_report(inputs: DrReportInputs, *, now: datetime) -> EventReport:
    """The compliance of one event as the ledger holds it at ``now``."""
    event = inputs.story.event
    window_end = event.window_end or now
    currency = currency_of(inputs.prices.get(event.zone, ()))
    prices = {zone: _stored(rows) for zone, rows in inputs.prices.items()}
    curve = tuple(
        CurvePoint(
            at=s.sampled_at,
            state=s.state,
            shed_kw=_f(s.shed_kw),
            in_flight_kw=_f(s.in_flight_kw),
            zone_load_kw=_f(s.zone_load_kw),
            missing_kw=_f(s.missing_kw),
            target_kw=_f(event.target_kw),
            met=_met(event, s),
        )
        for s in inputs.story.samples
    )
    inside = [p for p in curve if event.window_start <= p.at <= window_end]
    peak = None
    if inside:
        values = [curve_value(p, event.kind) for p in inside]
        peak = max(values) if event.kind == "shed" else min(values)
    moves = tuple(
        _move_line(m, event, window_end=window_end, prices=prices, currency=currency)
        for m in inputs.moves
    )
    priced = [m.saving for m in moves if m.saving is not None]
    return EventReport(
        name=event.k8s_name or event.external_id,
        source=event.source,
        external_id=event.external_id,
        zone=event.zone,
        kind=event.kind,
        target_kw=_f(event.target_kw),
        window_start=event.window_start,
        window_end=event.window_end,
        deadline=event.deadline,
        state=event.state,
        outcome=event.outcome,
        outcome_at=event.outcome_at,
        met_at=event.met_at,
        responded_at=event.responded_at,
        achieved_kw=None if event.achieved_kw is None else _f(event.achieved_kw),
        missing_kw=None if event.missing_kw is None else _f(event.missing_kw),
        peak_shed_kw=peak,
        order=tuple(s.external_id for s in inputs.order_signals),
        transitions=tuple((t.state, t.entered_at) for t in inputs.story.transitions),
        curve=curve,
        moves=moves,
        energy_kwh=round(sum(m.energy_kwh for m in moves), 3),
        saving=round(sum(priced), 2) if priced else None,
        priced_kwh=round(sum(m.priced_kwh for m in moves), 3),
        currency=currency,
    )


@dataclass(frozen=True, slots=True)
class DayReport:
    """Every event whose window opened on one day, and the day's totals."""

    day: str
    timezone: str
    events: tuple[EventReport, ...]

    @property
    def met(self) -> int:
        return sum(1 for e in self.events if e.outcome == "Met")

    @property
    def missed(self) -> int:
        return sum(1 for e in self.events if e.outcome == "Missed")

    @property
    def energy_kwh(self) -> float:
        return round(sum(e.energy_kwh for e in self.events), 3)

    @property
    def saving(self) -> float | None:
        known = [e.saving for e in self.events if e.saving is not None]
        return round(sum(known), 2) if known else None


def response_seconds(report: EventReport) -> float | None:
    """Seconds from the window's opening to the target met, when it was."""
    if report.met_at is None:
        return None
    return max(0.0, (report.met_at - report.window_start) / timedelta(seconds=1))

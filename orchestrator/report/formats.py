"""A DR compliance report as text for people, JSON for programs, CSV for spreadsheets.

``text``: per event the order, target, window and deadline, Met or Missed and when, the states,
the shed curve against the target, the moves with their phases and causes, the energy moved and
the estimated saving; then the day's totals. ``json``: the same, as one document. ``csv``: one
table, chosen by ``table``: ``events`` (a row per event), ``curve`` (a row per sample of the shed
curve) or ``moves`` (a row per move).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Literal, TypeAlias

from orchestrator.report.compliance import DayReport, EventReport, response_seconds

CsvTable = Literal["events", "curve", "moves"]
Json: TypeAlias = "str | int | float | bool | list[Json] | dict[str, Json] | None"


def _at(moment: datetime | None) -> str:
    return "—" if moment is None else moment.isoformat(timespec="seconds")


def _money(value: float | None, currency: str | None) -> str:
    return "not priced" if value is None else f"{value:,.2f} {currency or ''}".rstrip()


def _event_text(e: EventReport) -> list[str]:
    target = (
        f"shed {e.target_kw:g} kW" if e.kind == "shed" else f"stay at or under {e.target_kw:g} kW"
    )
    took = response_seconds(e)
    outcome = (
        "no outcome yet"
        if e.outcome is None
        else f"{e.outcome} at {_at(e.outcome_at)}"
        + (f" (target met {took:.0f} s after the window opened)" if took is not None else "")
    )
    lines = [
        f"event {e.name}",
        f"  order      {e.source} {e.external_id}: {target} in {e.zone}"
        + (f"; signals {', '.join(e.order)}" if e.order else ""),
        f"  window     {_at(e.window_start)} to {_at(e.window_end)}; respond by {_at(e.deadline)}",
        f"  outcome    {outcome}; state {e.state}",
        f"  response   first move {_at(e.responded_at)}; shed {e.achieved_kw or 0:g} kW, "
        f"missing {e.missing_kw or 0:g} kW"
        + (
            f"; best sample in the window {e.peak_shed_kw:g} kW"
            if e.peak_shed_kw is not None
            else ""
        ),
        "  states     " + (" → ".join(f"{s} {_at(at)}" for s, at in e.transitions) or "—"),
        f"  shed curve ({'kW shed' if e.kind == 'shed' else 'kW drawn'} / target, state)",
    ]
    for p in e.curve:
        value = p.shed_kw if e.kind == "shed" else p.zone_load_kw
        flag = "met" if p.met else f"{p.missing_kw:g} kW missing"
        moving = f", {p.in_flight_kw:g} kW in flight" if p.in_flight_kw else ""
        lines.append(f"    {_at(p.at)}  {value:>9.1f} / {p.target_kw:g}  {p.state}, {flag}{moving}")
    if not e.curve:
        lines.append("    (no sample)")
    lines.append(f"  moves ({len(e.moves)})")
    for m in e.moves:
        took_m = "" if m.duration_seconds is None else f" in {m.duration_seconds:.1f} s"
        met = {True: "deadline met", False: "deadline MISSED", None: "running"}[m.deadline_met]
        lines.append(
            f"    {m.migration}: {m.workload} {m.from_cluster} → {m.to_cluster}"
            f"{f' (zone {m.to_zone})' if m.to_zone else ''}, {m.trigger}, "
            f"{m.outcome or 'in flight'}{took_m} of {m.deadline_seconds} s, {met}, {m.kw:g} kW"
        )
        phases = " · ".join(f"{p.phase} {_at(p.started_at)}" for p in m.phases)
        lines.append(f"      phases  {phases or '—'}")
        cause = f"decision #{m.decision_id} at {_at(m.decided_at)}" if m.decision_id else "by hand"
        signals = f"; signals {', '.join(m.signals)}" if m.signals else ""
        lines.append(f"      cause   {cause}: {m.reason}{signals}")
        if m.away_from is not None:
            lines.append(
                f"      shed    {_at(m.away_from)} to {_at(m.away_until)}: "
                f"{m.energy_kwh:,.1f} kWh, saving {_money(m.saving, e.currency)}"
            )
    lines.append(
        f"  energy     {e.energy_kwh:,.1f} kWh run outside {e.zone} in the window; estimated "
        f"saving {_money(e.saving, e.currency)} ({e.priced_kwh:,.1f} kWh priced: kW moved x "
        f"(price in {e.zone} - price at the target) x hours away, prices from the ledger's "
        "price signals)"
    )
    return lines


def text(report: DayReport) -> str:
    """The report for people."""
    lines = [f"DR compliance report: {report.day} ({report.timezone}), from the ledger", ""]
    for event in report.events:
        lines.extend(_event_text(event))
        lines.append("")
    if not report.events:
        lines.extend(["No demand-response event in the ledger for this selection.", ""])
    currency = next((e.currency for e in report.events if e.currency), None)
    lines.append(
        f"total: {len(report.events)} event(s), {report.met} Met, {report.missed} Missed; "
        f"{report.energy_kwh:,.1f} kWh moved; estimated saving {_money(report.saving, currency)}"
    )
    return "\n".join(lines) + "\n"


def _plain(value: object) -> Json:
    if isinstance(value, datetime):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return str(value)


def document(report: DayReport) -> Json:
    """The report as one JSON value: every event with its curve and moves, and the totals."""
    return {
        "day": report.day,
        "timezone": report.timezone,
        "events": [_plain(e) for e in report.events],
        "totals": {
            "events": len(report.events),
            "met": report.met,
            "missed": report.missed,
            "energyKWh": report.energy_kwh,
            "saving": report.saving,
        },
    }


def as_json(report: DayReport) -> str:
    return json.dumps(document(report), indent=2, ensure_ascii=False) + "\n"


def as_csv(report: DayReport, table: CsvTable) -> str:
    """One table of the report as CSV, with a header row."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    events: Sequence[EventReport] = report.events
    if table == "events":
        writer.writerow(
            ["event", "zone", "kind", "target_kw", "window_start", "window_end", "deadline",
             "state", "outcome", "outcome_at", "met_at", "achieved_kw", "missing_kw", "moves",
             "energy_kwh", "saving", "currency"]
        )  # fmt: skip
        for e in events:
            writer.writerow(
                [e.name, e.zone, e.kind, e.target_kw, _iso(e.window_start), _iso(e.window_end),
                 _iso(e.deadline), e.state, e.outcome or "", _iso(e.outcome_at), _iso(e.met_at),
                 e.achieved_kw, e.missing_kw, len(e.moves), e.energy_kwh, _num(e.saving),
                 e.currency or ""]
            )  # fmt: skip
    elif table == "curve":
        writer.writerow(
            ["event", "sampled_at", "state", "shed_kw", "in_flight_kw", "zone_load_kw",
             "missing_kw", "target_kw", "met"]
        )  # fmt: skip
        for e in events:
            for p in e.curve:
                writer.writerow(
                    [e.name, _iso(p.at), p.state, p.shed_kw, p.in_flight_kw, p.zone_load_kw,
                     p.missing_kw, p.target_kw, p.met]
                )  # fmt: skip
    else:
        writer.writerow(
            ["event", "migration", "workload", "from_cluster", "to_cluster", "to_zone", "trigger",
             "outcome", "started_at", "finished_at", "duration_seconds", "deadline_met", "kw",
             "decision_id", "signals", "away_from", "away_until", "energy_kwh", "saving"]
        )  # fmt: skip
        for e in events:
            for m in e.moves:
                writer.writerow(
                    [e.name, m.migration, m.workload, m.from_cluster, m.to_cluster,
                     m.to_zone or "", m.trigger, m.outcome or "", _iso(m.started_at),
                     _iso(m.finished_at), _num(m.duration_seconds), _num(m.deadline_met), m.kw,
                     _num(m.decision_id), " ".join(m.signals), _iso(m.away_from),
                     _iso(m.away_until), m.energy_kwh, _num(m.saving)]
                )  # fmt: skip
    return out.getvalue()


def _iso(moment: datetime | None) -> str:
    return "" if moment is None else moment.isoformat()


def _num(value: object) -> str:
    return "" if value is None else str(value)

"""``gridshift why``: the chain from a move back to the grid, as text or as a JSON document.

Pure: a :class:`~orchestrator.ledger.records.WhyRecord` in, rich renderables (or plain JSON
values) out.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from decimal import Decimal
from typing import TypeAlias

from rich.console import Group, RenderableType
from rich.text import Text

from orchestrator.ledger.records import (
    DecisionRecord,
    DrEventStory,
    MigrationRecord,
    SignalRecord,
    WhyRecord,
)
from orchestrator.views.ledger import phase_durations, terms_table
from orchestrator.views.status import seconds

Json: TypeAlias = "str | int | float | bool | list[Json] | dict[str, Json] | None"


def _at(moment: datetime | None) -> str:
    return "—" if moment is None else moment.isoformat(timespec="seconds")


def _kw(value: Decimal | float | None) -> str:
    return "—" if value is None else f"{float(value):g} kW"


def _move(m: MigrationRecord, now: datetime) -> list[RenderableType]:
    outcome = m.outcome or f"{m.phase} (in flight)"
    took = "" if m.duration_seconds is None else f" in {seconds(m.duration_seconds)}"
    met = {True: "met", False: "MISSED", None: "running"}[m.deadline_met]
    return [
        Text.assemble(
            (f"{m.namespace}/{m.workload}", "bold"),
            f" moved {m.from_cluster} → {m.to_cluster} at {_at(m.started_at)}: ",
            (outcome, "bold"),
            f"{took} (deadline {m.deadline_seconds} s, {met})",
        ),
        Text(
            f"  migration {m.namespace}/{m.name} (uid {m.uid}), trigger {m.trigger}, "
            f"{_kw(m.kw_moved)} moved; reason: {m.reason or '—'}"
        ),
        Text(f"  phases: {phase_durations(m, now)}"),
    ]


def _decision(d: DecisionRecord | None) -> list[RenderableType]:
    if d is None:
        return [Text("No planner decision: the Migration was made by hand.", style="dim")]
    return [
        Text.assemble(
            (f"decision #{d.id}", "bold"),
            f" at {_at(d.decided_at)}: ",
            (d.action, "bold cyan"),
            f" → {d.chosen_cluster}" if d.chosen_cluster else "",
            f" (zone {d.chosen_zone})" if d.chosen_zone else "",
            f", trigger {d.trigger or '—'}, prompted by zone {d.zone or '—'}, plan {d.plan_id}",
        ),
        Text(f"  reason: {d.reason}"),
        terms_table(d.candidates, chosen=d.chosen_cluster, why_not=None),
    ]


def _signals(signals: tuple[SignalRecord, ...]) -> list[RenderableType]:
    if not signals:
        return [Text("No recorded signal behind it.", style="dim")]
    parts: list[RenderableType] = [Text("signals behind it:", style="bold")]
    for s in signals:
        value = "" if s.value is None else f" {float(s.value):g} {s.unit}"
        parts.append(
            Text(
                f"  #{s.id} {s.kind} {s.external_id} from {s.source} for zone {s.zone}, "
                f"{_at(s.interval_start)} to {_at(s.interval_end)}{value} "
                f"(received {_at(s.received_at)})"
            )
        )
    return parts


def _event(story: DrEventStory | None) -> list[RenderableType]:
    if story is None:
        return [Text("No demand-response event behind it.", style="dim")]
    e = story.event
    target = (
        f"shed {float(e.target_kw):g} kW" if e.kind == "shed" else f"stay under {_kw(e.target_kw)}"
    )
    outcome = "no outcome yet" if e.outcome is None else f"{e.outcome} at {_at(e.outcome_at)}"
    states = " → ".join(f"{t.state} {_at(t.entered_at)}" for t in story.transitions) or "—"
    return [
        Text.assemble(
            (f"DR event {e.k8s_name or e.external_id}", "bold"),
            f" ({e.source} {e.external_id}): {target} in {e.zone} from {_at(e.window_start)} "
            f"to {_at(e.window_end)}, respond by {_at(e.deadline)}",
        ),
        Text(
            f"  state {e.state}, {outcome}; shed {_kw(e.achieved_kw)}, missing {_kw(e.missing_kw)}"
        ),
        Text(f"  states: {states}"),
    ]


def why_view(record: WhyRecord, now: datetime) -> Group:
    """The chain, from the move back to the grid."""
    parts = [
        *_move(record.migration, now),
        Text(""),
        *_decision(record.decision),
        Text(""),
        *_signals(record.signals),
        Text(""),
        *_event(record.dr_event),
    ]
    return Group(*parts)


def plain(value: object) -> Json:
    """A record as JSON holds it: fields by name, times as RFC 3339, kW as numbers, uids as
    text."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return str(value)


def why_document(record: WhyRecord) -> Json:
    """The chain as one JSON object: migration (with phases), decision (with candidates),
    signals and DR event (with its states and shed curve)."""
    return plain(record)

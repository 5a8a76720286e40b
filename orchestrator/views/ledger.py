"""The ledger as ``gridshift migrations`` and ``gridshift decisions`` show it.

Pure rendering of the ledger's plain records (``orchestrator.ledger.records``, which import no
database library); nothing here reads the database.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from orchestrator.api.migration import TERMINAL_PHASES
from orchestrator.ledger.records import CandidateScore, DecisionRecord, MigrationRecord
from orchestrator.planner.model import TERMS, Candidate
from orchestrator.views.status import NONE, seconds

_OUTCOME_STYLE = {"Completed": "green", "RolledBack": "yellow", "Failed": "bold red"}


def phase_durations(record: MigrationRecord, now: datetime) -> str:
    """Each phase and how long it took, in order: ``Preflight 0.4 s · Provisioning 1.2 s``."""
    parts = []
    for phase in record.phases:
        if phase.phase in TERMINAL_PHASES:
            continue
        end = phase.finished_at
        spent = ((end or now) - phase.started_at).total_seconds()
        parts.append(f"{phase.phase} {seconds(spent)}" + ("" if end else " (running)"))
    return " · ".join(parts) or NONE


def _met(record: MigrationRecord) -> Text:
    if record.deadline_met is None:
        return Text("running" if record.outcome is None else NONE, style="dim")
    return Text("yes", style="green") if record.deadline_met else Text("MISSED", style="bold red")


def history_table(records: Sequence[MigrationRecord], now: datetime) -> Table:
    """Past migrations, newest first: route, trigger, outcome, duration, deadline, phases."""
    table = Table(title="Migrations (ledger)", title_justify="left")
    for column in (
        "started",
        "migration",
        "workload",
        "from → to",
        "trigger",
        "outcome",
        "duration / deadline",
        "deadline met",
        "phases",
    ):
        table.add_column(column, overflow="fold")
    for record in records:
        end = record.finished_at
        spent = ((end or now) - record.started_at).total_seconds()
        late = spent > record.deadline_seconds
        outcome = record.outcome or f"{record.phase} (in flight)"
        table.add_row(
            record.started_at.isoformat(timespec="seconds"),
            f"{record.namespace}/{record.name}",
            record.workload,
            f"{record.from_cluster} → {record.to_cluster}",
            record.trigger,
            Text(outcome, style=_OUTCOME_STYLE.get(outcome, "")),
            Text(f"{seconds(spent)} / {record.deadline_seconds} s", style="red" if late else ""),
            _met(record),
            phase_durations(record, now),
        )
    return table


def _score(value: float) -> str:
    return f"{value:+.3f}"


def terms_table(
    candidates: Sequence[Candidate] | Sequence[CandidateScore],
    *,
    chosen: str | None,
    why_not: Mapping[str, str] | None,
) -> Table:
    table = Table(box=None, padding=(0, 1), show_edge=False)
    table.add_column("candidate", overflow="fold")
    table.add_column("total", justify="right")
    for term in TERMS:
        table.add_column(term, justify="right")
    if why_not is not None:
        table.add_column("eligible", overflow="fold")
    for candidate in candidates:
        mark = "* " if candidate.cluster == chosen else "  "
        cells: list[RenderableType] = [
            Text(mark + candidate.cluster, style="bold green" if mark.strip() else ""),
            _score(candidate.total),
            *(_score(candidate.terms.get(term, 0.0)) for term in TERMS),
        ]
        if why_not is not None:
            reason = why_not.get(candidate.cluster)
            cells.append(
                Text(f"no: {reason}", style="red") if reason else Text("yes", style="green")
            )
        table.add_row(*cells)
    return table


def decisions_view(records: Sequence[DecisionRecord]) -> Group:
    """A workload's decisions, newest first: what, where and why, then each candidate's terms."""
    if not records:
        return Group(Text("No decision recorded.", style="dim"))
    parts: list[RenderableType] = []
    for record in records:
        parts.append(
            Text.assemble(
                (record.decided_at.isoformat(timespec="seconds"), "bold"),
                "  ",
                (record.action, "bold cyan"),
                f" → {record.chosen_cluster}" if record.chosen_cluster else "",
                f"  {record.reason}",
            )
        )
        if record.candidates:
            parts.append(terms_table(record.candidates, chosen=record.chosen_cluster, why_not=None))
        parts.append(Text(""))
    return Group(*parts)

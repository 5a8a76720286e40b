"""How the demo looks: a live rich view on a terminal, one line per change elsewhere, a summary.

:func:`live_view` draws the whole picture for one moment (the simulated clock, the provinces'
prices and peak levels, where each workload runs, the migrations with their timers against the
deadline); :func:`changes` lists, for logs and CI, what changed between two moments; and
:func:`summary_view` draws the closing figures. Pure: they take values and return renderables
or strings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from orchestrator.devenv.demo_scenario import ZoneHour
from orchestrator.devenv.demo_state import (
    LEDGER_TABLES,
    HubState,
    MigrationState,
    Summary,
    TrafficCounts,
    TrafficSummary,
    redact,
)

LEVEL_STYLE = {0: "green", 1: "yellow", 2: "bold red", 3: "bold magenta"}
LEVEL_NAME = {0: "off-peak", 1: "shoulder", 2: "peak", 3: "critical"}
PHASE_STYLE = {"Completed": "green", "RolledBack": "yellow", "Failed": "red"}


@dataclass(frozen=True)
class Moment:
    """What the demo knows at one tick, besides the hub's state."""

    now: datetime
    sim_hour: float
    real_seconds: float
    stage: str
    posted: Sequence[ZoneHour]
    shed_target_kw: float | None = None
    shed_now_kw: float | None = None
    dispatch_seconds: float | None = None
    event: str | None = None
    """The DemandResponseEvent of the order and its state, once the operator made it."""
    saving: float = 0.0
    traffic: TrafficCounts | None = None
    """The requests sent through the edge to the workload that serves for real, so far."""


def traffic_text(counts: TrafficCounts) -> str:
    """One line: the answers so far, by cluster, and the failures."""
    by = ", ".join(f"{c} {n}" for c, n in sorted(counts.answered.items())) or "none yet"
    return (
        f"requests to {counts.workload} through the edge: {counts.total_answered} answered "
        f"({by}), {counts.failed} failed, {counts.cut} streams cut"
    )


def clock_text(hour: float) -> str:
    """``HH:MM`` of a simulated hour (24:00 at the end of the day)."""
    minutes = round(hour * 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _level(level: int) -> Text:
    return Text(f"{level} {LEVEL_NAME.get(level, '?')}", style=LEVEL_STYLE.get(level, ""))


def _header(moment: Moment, day: str) -> RenderableType:
    text = Text()
    text.append("gridshift demo  ", style="bold")
    text.append(f"{day} {clock_text(moment.sim_hour)}", style="bold cyan")
    text.append(f"  (simulated; {moment.real_seconds:.0f} s real)  ")
    text.append(moment.stage, style="italic")
    if moment.shed_target_kw is not None:
        shed = moment.shed_now_kw or 0.0
        met = shed >= moment.shed_target_kw
        text.append("\ndispatch order: shed ")
        text.append(f"{moment.shed_target_kw:.0f} kW", style="bold")
        text.append(" from Shanghai within 180 s; shed now ")
        text.append(f"{shed:.0f} kW", style="bold green" if met else "bold red")
        if moment.dispatch_seconds is not None:
            text.append(f"; {moment.dispatch_seconds:.0f} s since the order")
        if moment.event is not None:
            text.append(f"\n{moment.event}")
    text.append(f"\nestimated saving so far: {moment.saving:,.0f} CNY")
    return Panel(text, expand=True)


def zones_table(moment: Moment, state: HubState) -> Table:
    table = Table(title="provinces", expand=True)
    for column in ("zone", "tariff period", "price posted", "peak level", "operator sees"):
        table.add_column(column)
    for item in moment.posted:
        seen = state.zones.get(item.zone)
        shown = Text("-")
        if seen is not None:
            price = "-" if seen.price is None else f"{seen.price:.4f}"
            events = f", DR {len(seen.active_events)}" if seen.active_events else ""
            shown = Text(f"{price} CNY/kWh, level {seen.level}{events}")
            if seen.stale:
                shown.append(" (stale)", style="red")
        table.add_row(
            item.zone, item.period, f"{item.price:.4f} CNY/kWh", _level(item.level), shown
        )
    return table


def workloads_table(state: HubState, namespace: str) -> Table:
    table = Table(title=f"workloads ({namespace})", expand=True)
    for column in ("workload", "kW", "home", "runs in", "ready"):
        table.add_column(column)
    for w in state.in_namespace(namespace):
        where = Text(w.cluster or "-", style="" if w.cluster == w.home else "bold cyan")
        table.add_row(w.name, f"{w.kw:.1f}", w.home, where, f"{w.ready}/{w.desired}")
    return table


def _timer(m: MigrationState, now: datetime) -> Text:
    elapsed = m.elapsed(now)
    if elapsed is None:
        return Text("-")
    late = elapsed > m.deadline_seconds
    return Text(f"{elapsed:5.1f} s / {m.deadline_seconds} s", style="red" if late else "")


def migrations_table(moves: Sequence[MigrationState], now: datetime) -> Table:
    table = Table(title="migrations", expand=True)
    for column in ("workload", "from → to", "trigger", "phase", "timer / deadline", "kW"):
        table.add_column(column)
    for m in moves:
        table.add_row(
            m.workload,
            f"{m.source} → {m.target}",
            m.trigger,
            Text(m.phase, style=PHASE_STYLE.get(m.phase, "cyan")),
            _timer(m, now),
            f"{m.kw_moved:.1f}" if m.kw_moved else "",
        )
    if not moves:
        table.add_row("(none yet)", "", "", "", "", "")
    return table


def live_view(
    moment: Moment,
    state: HubState,
    moves: Sequence[MigrationState],
    *,
    day: str,
    namespace: str,
) -> RenderableType:
    """The whole picture at ``moment``."""
    parts: list[RenderableType] = [
        _header(moment, day),
        zones_table(moment, state),
        workloads_table(state, namespace),
        migrations_table(moves, moment.now),
    ]
    if moment.traffic is not None:
        bad = moment.traffic.failed + moment.traffic.cut
        parts.append(Text(traffic_text(moment.traffic), style="red" if bad else "green"))
    return Group(*parts)


def changes(
    before: HubState | None, after: HubState, moves: Sequence[MigrationState], namespace: str
) -> list[str]:
    """One line per change a reader of a log wants: placements and migration phases."""
    lines: list[str] = []
    old_places = {w.key: w.cluster for w in before.in_namespace(namespace)} if before else {}
    for w in after.in_namespace(namespace):
        if before is not None and old_places.get(w.key) != w.cluster and w.cluster is not None:
            lines.append(f"workload {w.key} now runs in {w.cluster} ({w.kw:.1f} kW)")
    old_phases = {(m.namespace, m.name): m.phase for m in before.migrations} if before else {}
    for m in moves:
        if old_phases.get((m.namespace, m.name)) != m.phase:
            timing = f" in {m.duration:.1f} s" if m.duration is not None else ""
            lines.append(
                f"migration {m.namespace}/{m.name} ({m.workload} {m.source} -> {m.target}, "
                f"{m.trigger}): {m.phase}{timing}"
            )
    return lines


def summary_view(summary: Summary, *, explore: Mapping[str, str]) -> RenderableType:
    """The closing figures and where to look next."""
    parts: list[RenderableType] = [Text("gridshift demo: summary", style="bold")]
    table = Table(title="migrations against the deadline", expand=True)
    for column in ("workload", "from → to", "trigger", "outcome", "duration", "deadline", "met"):
        table.add_column(column)
    for m in summary.moves:
        met = "yes" if m.deadline_met else "no" if m.deadline_met is False else "-"
        table.add_row(
            m.workload,
            f"{m.source} → {m.target}",
            m.trigger,
            Text(m.phase, style=PHASE_STYLE.get(m.phase, "")),
            "-" if m.duration is None else f"{m.duration:.1f} s",
            f"{m.deadline_seconds} s",
            Text(met, style="green" if m.deadline_met else "red"),
        )
    if not summary.moves:
        table.add_row("(no migration)", "", "", "", "", "", "")
    parts.append(table)
    lines = Text()
    lines.append(
        f"migrations: {len(summary.moves)}, completed within the deadline: {summary.in_time}\n"
    )
    dispatch = summary.dispatch
    if dispatch is not None:
        met = (
            f"target met {dispatch.met_after_seconds:.0f} s after the order"
            if dispatch.met_after_seconds is not None
            else "target not met"
        )
        lines.append(
            f"dispatch: shed {dispatch.target_kw:.0f} kW (Shanghai drew "
            f"{dispatch.draw_before_kw:.1f} kW; OpenADR DISPATCH_SETPOINT {dispatch.cap_kw:.1f} "
            f"kW): shed {dispatch.best_shed_kw:.1f} kW, {met}\n"
        )
        if dispatch.event is not None:
            e = dispatch.event
            lines.append(
                f"DemandResponseEvent {e.name}: {e.state}, achievedKW {e.achieved_kw:.1f}\n"
            )
    if summary.traffic is not None:
        lines.append(_traffic_summary(summary.traffic))
    lines.append(
        f"estimated energy-cost saving: {summary.saving:,.2f} CNY "
        f"({summary.kwh_moved:,.0f} kWh run elsewhere; kW moved x price difference x "
        "simulated hours away, at the tariff prices the demo posted)\n"
    )
    report = (
        f", `gridshift report --event {dispatch.event.name} --chart dispatch.svg`"
        if dispatch is not None and dispatch.event is not None
        else ", `gridshift report`"
    )
    lines.append(
        f"ledger: {redact(summary.database_url)}, tables {', '.join(LEDGER_TABLES)}; "
        f"read it with `gridshift migrations`, `gridshift why`{report}\n"
    )
    if summary.operator_log:
        lines.append(f"operator log: {summary.operator_log}\n")
    lines.append(f"demo took {summary.wall_seconds:.0f} s")
    parts.append(lines)
    if explore:
        hints = Text("\n")
        for what, command in explore.items():
            hints.append(f"{what}: ", style="bold")
            hints.append(f"{command}\n")
        parts.append(hints)
    return Group(*parts)


def _traffic_summary(traffic: TrafficSummary) -> str:
    counts = traffic.counts
    line = (
        f"requests through the edge to {counts.workload} (on real pods): "
        f"{counts.total_answered + counts.failed + counts.cut} sent, {counts.total_answered} "
        f"answered, {counts.failed} failed, {counts.cut} streams cut; during the "
        f"{traffic.moves} moves: {traffic.answered_during_moves} answered, "
        f"{traffic.failed_during_moves} failed or cut\n"
    )
    for failure in traffic.failures:
        line += f"  {failure}\n"
    return line

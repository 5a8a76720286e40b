"""The status screen: zones, member clusters, workloads and migrations in flight.

The rows are plain values gathered from the hub by :mod:`orchestrator.overview`; ``now`` is
passed in, so the same rows always render the same screen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from orchestrator.api.migration import TERMINAL_PHASES

PEAK_LEVELS = {0: "0 none", 1: "1 shoulder", 2: "2 peak", 3: "3 critical"}
_PEAK_STYLE = {0: "green", 1: "yellow", 2: "bold yellow", 3: "bold red"}
NONE = "—"


def make_console(*, stderr: bool = False) -> Console:
    """A console for the command's output (made per command, so ``COLUMNS`` is honoured)."""
    return Console(stderr=stderr, soft_wrap=False, highlight=False)


# -- the status screen -------------------------------------------------------------------------


@dataclass(frozen=True)
class ZoneRow:
    """One GridZone as ``gridshift status`` shows it."""

    name: str
    price_per_kwh: float | None
    currency: str | None
    unit: str | None
    peak_level: int
    tou_period: str | None
    last_signal_time: datetime | None
    stale: bool
    active_events: tuple[str, ...] = ()


@dataclass(frozen=True)
class ClusterRow:
    """One MemberCluster."""

    name: str
    zone: str
    reachable: bool | None
    """None: not probed yet."""
    free_gpus: int
    allocatable_gpus: int
    cordoned: bool


@dataclass(frozen=True)
class WorkloadRow:
    """One InferenceWorkload."""

    namespace: str
    name: str
    current_cluster: str | None
    home_cluster: str
    ready_replicas: int
    desired_replicas: int
    power_kw: float
    active_migration: str | None


@dataclass(frozen=True)
class MoveRow:
    """One Migration, for the in-flight table and ``migrate --wait``."""

    namespace: str
    name: str
    workload: str
    from_cluster: str
    to_cluster: str
    phase: str
    started_at: datetime | None
    deadline_seconds: int
    traffic_percent: int
    message: str = ""
    duration_seconds: float | None = None
    deadline_met: bool | None = None

    @property
    def ended(self) -> bool:
        return self.phase in TERMINAL_PHASES


@dataclass(frozen=True)
class Overview:
    """Everything on the status screen, read at ``at``."""

    at: datetime
    zones: tuple[ZoneRow, ...]
    clusters: tuple[ClusterRow, ...]
    workloads: tuple[WorkloadRow, ...]
    moves: tuple[MoveRow, ...]
    """Migrations that have not ended."""


def seconds(value: float) -> str:
    """A duration for people: 42.1 s, 3 min 5 s, 2 h 10 min, 3 d 4 h."""
    value = max(0.0, value)
    if value < 60:
        return f"{value:.1f} s"
    minutes, secs = divmod(int(value), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def price(row: ZoneRow) -> str:
    """The zone's price with its currency and unit, e.g. ``0.6811 CNY/kWh``."""
    if row.price_per_kwh is None:
        return NONE
    unit = row.unit or (f"{row.currency}/kWh" if row.currency else "/kWh")
    if row.currency and row.currency not in unit:
        unit = f"{row.currency}/{unit}"
    return f"{row.price_per_kwh:.4f} {unit}"


def peak(level: int) -> Text:
    """A peak level, coloured by severity."""
    return Text(PEAK_LEVELS.get(level, str(level)), style=_PEAK_STYLE.get(level, ""))


def freshness(row: ZoneRow, now: datetime) -> Text:
    """``fresh (12.0 s)`` or ``Stale (no signal)`` / ``Stale (6 min 0 s)``."""
    age = (
        None
        if row.last_signal_time is None
        else seconds((now - row.last_signal_time).total_seconds())
    )
    if row.stale:
        return Text(f"Stale ({age or 'no signal'})", style="bold red")
    return Text(f"fresh ({age})" if age else "fresh", style="green")


def _yes_no(value: bool | None, *, good: bool = True) -> Text:
    if value is None:
        return Text("unknown", style="yellow")
    ok = value == good
    return Text("yes" if value else "no", style="green" if ok else "bold red")


def zones_table(rows: Sequence[ZoneRow], now: datetime) -> Table:
    """Zones: price, peak level, TOU period, freshness, active DR events."""
    table = Table(title="Zones", title_justify="left", expand=False)
    for column in ("zone", "price", "peak level", "TOU period", "signals", "DR events"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            row.name,
            price(row),
            peak(row.peak_level),
            row.tou_period or NONE,
            freshness(row, now),
            Text(", ".join(row.active_events), style="bold red") if row.active_events else NONE,
        )
    return table


def clusters_table(rows: Sequence[ClusterRow]) -> Table:
    """Member clusters: zone, reachable, GPUs free/allocatable, cordoned."""
    table = Table(title="Member clusters", title_justify="left")
    for column in ("cluster", "zone", "reachable", "GPUs free/allocatable", "cordoned"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            row.name,
            row.zone,
            _yes_no(row.reachable),
            f"{row.free_gpus}/{row.allocatable_gpus}",
            Text("yes", style="yellow") if row.cordoned else Text("no"),
        )
    return table


def workloads_table(rows: Sequence[WorkloadRow]) -> Table:
    """Workloads: where each runs, its home, replicas, power and active migration."""
    table = Table(title="Workloads", title_justify="left")
    for column in ("workload", "cluster", "home", "ready/desired", "kW", "migration"):
        table.add_column(column, overflow="fold")
    for row in rows:
        away = row.current_cluster is not None and row.current_cluster != row.home_cluster
        short = row.ready_replicas < row.desired_replicas
        table.add_row(
            f"{row.namespace}/{row.name}",
            Text(row.current_cluster or "not placed", style="cyan" if away else ""),
            row.home_cluster,
            Text(f"{row.ready_replicas}/{row.desired_replicas}", style="yellow" if short else ""),
            f"{row.power_kw:.1f}",
            row.active_migration or NONE,
        )
    return table


def elapsed(move: MoveRow, now: datetime) -> Text:
    """Elapsed against the deadline, red once past it: ``42.1 s / 180 s``."""
    if move.duration_seconds is not None and move.ended:
        spent = move.duration_seconds
    elif move.started_at is None:
        return Text(f"not started / {move.deadline_seconds} s")
    else:
        spent = (now - move.started_at).total_seconds()
    late = spent > move.deadline_seconds
    return Text(
        f"{seconds(spent)} / {move.deadline_seconds} s" + (" (deadline passed)" if late else ""),
        style="bold red" if late else "",
    )


def moves_table(
    rows: Sequence[MoveRow], now: datetime, *, title: str = "Migrations in flight"
) -> Table:
    """Migrations: phase, elapsed against the deadline, traffic on the target."""
    table = Table(title=title, title_justify="left")
    for column in ("migration", "workload", "from → to", "phase", "elapsed / deadline", "traffic"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            f"{row.namespace}/{row.name}",
            row.workload,
            f"{row.from_cluster} → {row.to_cluster}",
            row.phase,
            elapsed(row, now),
            f"{row.traffic_percent} %",
        )
    return table


def render_overview(overview: Overview) -> Group:
    """The whole status screen."""
    now = overview.at
    parts: list[RenderableType] = [
        Text(f"gridshift status at {now.isoformat(timespec='seconds')}", style="bold"),
        zones_table(overview.zones, now),
        clusters_table(overview.clusters),
        workloads_table(overview.workloads),
    ]
    if overview.moves:
        parts.append(moves_table(overview.moves, now))
    else:
        parts.append(Text("No migration in flight.", style="dim"))
    return Group(*parts)


def render_move(move: MoveRow, now: datetime) -> Table:
    """One migration on one line, for ``gridshift migrate --wait``."""
    return moves_table([move], now, title=f"Migration {move.namespace}/{move.name}")

"""``gridshift status``, ``migrations`` and ``decisions``: the fleet now, and the ledger's past.

Each command parses its arguments, reads through :mod:`orchestrator.overview` and prints what
:mod:`orchestrator.views` renders. Failures print one ``error:`` line naming what to set or
check, and exit 1; bad arguments exit 2.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Group, RenderableType
from rich.live import Live
from rich.text import Text

from orchestrator import overview, views
from orchestrator.errors import GridshiftError
from orchestrator.ledger.vocab import HISTORY_LIMIT_MAX

KubeconfigOption = Annotated[
    Path | None,
    typer.Option(help="Hub kubeconfig (default: $GRIDSHIFT_KUBECONFIG).", show_default=False),
]
DatabaseOption = Annotated[
    str | None,
    typer.Option(
        help="Ledger database URL (default: $GRIDSHIFT_DATABASE_URL).", show_default=False
    ),
]
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^\s*(\d{1,6})\s*([smhdw])\s*$")


def fail(exc: GridshiftError) -> typer.Exit:
    """Print ``error: <message>`` on stderr; the exit to raise (code 1)."""
    views.make_console(stderr=True).print(f"[bold red]error:[/] {exc}", soft_wrap=True)
    return typer.Exit(code=1)


def parse_since(text: str, *, now: datetime, hint: str = "--since") -> datetime:
    """``90s``, ``15m``, ``1h``, ``7d``, ``2w`` before ``now``, or an RFC 3339 time with offset."""
    match = _DURATION.match(text)
    if match:
        return now - timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise typer.BadParameter(
            f"{text!r} is neither a duration (30m, 6h, 7d, 2w) nor a time with an offset "
            "(2026-07-15T12:00:00+08:00)",
            param_hint=hint,
        )
    return moment


def split_workload(text: str, *, hint: str) -> tuple[str, str]:
    """``NAMESPACE/NAME`` as its two parts."""
    namespace, _, name = text.partition("/")
    if not namespace or not name or "/" in name:
        raise typer.BadParameter(
            f"give the workload as NAMESPACE/NAME, not {text!r}", param_hint=hint
        )
    return namespace, name


def status(
    kubeconfig: KubeconfigOption = None,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Refresh until Ctrl-C.")] = False,
    interval: Annotated[
        float, typer.Option(min=1, max=300, help="Seconds between refreshes with --watch.")
    ] = 2.0,
    refreshes: Annotated[
        int, typer.Option(min=1, max=100_000, help="Stop --watch after this many refreshes.")
    ] = 1800,
) -> None:
    """Zones, member clusters, workloads and migrations in flight, on one screen."""
    console = views.make_console()
    try:
        hub = overview.connect(overview.hub_kubeconfig(kubeconfig))
        screen = views.render_overview(overview.fetch(hub, now=datetime.now(UTC)))
    except GridshiftError as exc:
        raise fail(exc) from exc
    if not watch:
        console.print(screen)
        return
    try:
        with Live(screen, console=console, refresh_per_second=4, auto_refresh=False) as live:
            for _ in range(refreshes - 1):
                time.sleep(interval)
                try:
                    screen = views.render_overview(overview.fetch(hub, now=datetime.now(UTC)))
                    live.update(screen, refresh=True)
                except GridshiftError as exc:  # keep the last screen; say why it is old
                    live.update(
                        Group(screen, Text(f"not refreshed: {exc}", style="bold red")), refresh=True
                    )
    except KeyboardInterrupt:
        console.print("stopped")


def migrations(
    workload: Annotated[
        str | None, typer.Option(help="Only this workload, as NAMESPACE/NAME.", show_default=False)
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            help="Only moves started since: 30m, 6h, 7d, or an RFC 3339 time.", show_default=False
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option(min=1, max=HISTORY_LIMIT_MAX, help="At most this many.")
    ] = 20,
    database_url: DatabaseOption = None,
) -> None:
    """Past migrations from the ledger: route, trigger, outcome, duration, deadline, phases."""
    now = datetime.now(UTC)
    start = None if since is None else parse_since(since, now=now)
    namespace, name = (
        (None, None) if workload is None else split_workload(workload, hint="--workload")
    )
    try:
        records = overview.read_migrations(
            overview.database_url(database_url),
            namespace=namespace,
            workload=name,
            since=start,
            limit=limit,
        )
    except GridshiftError as exc:
        raise fail(exc) from exc
    console = views.make_console()
    if not records:
        console.print(
            "No migration recorded"
            + (f" since {start.isoformat(timespec='seconds')}" if start else "")
            + "."
        )
        return
    console.print(views.history_table(records, now))


def decisions(
    workload: Annotated[str, typer.Argument(help="The workload, as NAMESPACE/NAME.")],
    limit: Annotated[
        int, typer.Option(min=1, max=HISTORY_LIMIT_MAX, help="At most this many.")
    ] = 10,
    database_url: DatabaseOption = None,
) -> None:
    """A workload's planner decisions from the ledger, with every candidate's score by term."""
    namespace, name = split_workload(workload, hint="WORKLOAD")
    try:
        records = overview.read_decisions(
            overview.database_url(database_url), namespace=namespace, workload=name, limit=limit
        )
    except GridshiftError as exc:
        raise fail(exc) from exc
    console = views.make_console()
    console.print(Text(f"Decisions about {namespace}/{name} (newest first)", style="bold"))
    console.print(views.decisions_view(records))


def plan(
    explain: Annotated[
        bool, typer.Option("--explain", help="Also each workload's decision and candidates.")
    ] = False,
    kubeconfig: KubeconfigOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """What the planner would do now, from the hub; creates and records nothing."""
    try:
        hub = overview.connect(overview.hub_kubeconfig(kubeconfig))
        url = database_url or _optional_database_url()
        made = overview.plan_now(hub, now=datetime.now(UTC), url=url)
    except GridshiftError as exc:
        raise fail(exc) from exc
    console = views.make_console()
    for part in views.render_plan(made, explain=explain):
        console.print(part)


def _optional_database_url() -> str | None:
    found = overview.settings().database_url
    return None if found is None else found.get_secret_value()


def register(app: typer.Typer) -> None:
    """Add these commands to ``app``."""
    app.command()(status)
    app.command()(migrations)
    app.command()(decisions)
    app.command()(plan)


def follow_move(kubeconfig: Path, namespace: str, name: str) -> views.MoveRow:
    """Show a Migration live (phase, elapsed against the deadline, traffic) until it ends.

    Each phase is also printed as a line when it begins, so a log keeps the whole story.
    """
    console = views.make_console()
    hub = overview.connect(kubeconfig)
    latest: list[views.MoveRow] = []

    def on_change(row: views.MoveRow) -> None:
        if not latest or latest[-1].phase != row.phase:
            spent = views.elapsed(row, datetime.now(UTC)).plain
            console.print(f"{row.phase:<16} {spent:<28} {row.message}".rstrip())
        latest[:] = [row]

    def screen() -> RenderableType:
        if not latest:
            return Text(f"waiting for Migration {namespace}/{name}…")
        return views.render_move(latest[-1], datetime.now(UTC))

    with Live(get_renderable=screen, console=console, refresh_per_second=2, transient=True):
        final = overview.follow(hub, namespace, name, on_change=on_change)
    console.print(views.render_move(final, datetime.now(UTC)))
    console.print(
        f"ended {final.phase} after {final.duration_seconds} s; deadline met: {final.deadline_met}"
    )
    return final

"""``gridshift why`` and ``gridshift report``: the ledger's story, from a move back to the grid,
and each demand-response event's compliance.

The commands parse their arguments, read through :mod:`orchestrator.overview` and print what
:mod:`orchestrator.views.why` and :mod:`orchestrator.report` render. Failures print one
``error:`` line and exit 1; bad arguments exit 2.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer

from orchestrator import overview, views
from orchestrator.cli_fleet import DatabaseOption, fail, parse_since, split_workload
from orchestrator.errors import ConfigError, GridshiftError
from orchestrator.report import formats
from orchestrator.report.chart import svg
from orchestrator.views.why import why_document, why_view


def why(
    workload: Annotated[str, typer.Argument(help="The workload, as NAMESPACE/NAME.")],
    at: Annotated[
        str | None,
        typer.Option(
            help="When it moved: an RFC 3339 time, or 30m, 6h, 7d ago (default: now).",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    database_url: DatabaseOption = None,
) -> None:
    """Why a workload moved at a time: the move and its phases, the planner's decision with
    every candidate, the signals behind it and the demand-response event it answered."""
    now = datetime.now(UTC)
    namespace, name = split_workload(workload, hint="WORKLOAD")
    moment = now if at is None else parse_since(at, now=now, hint="--at")
    try:
        found = overview.read_why(
            overview.database_url(database_url), namespace=namespace, workload=name, at=moment
        )
    except GridshiftError as exc:
        raise fail(exc) from exc
    console = views.make_console()
    if as_json:
        console.print_json(json.dumps(why_document(found)))
        return
    console.print(why_view(found, now))


def report(
    event: Annotated[
        str | None,
        typer.Option(help="Only this DemandResponseEvent (its object's name).", show_default=False),
    ] = None,
    day: Annotated[
        str | None,
        typer.Option(help="Events whose window opened on this day, YYYY-MM-DD (default: today)."),
    ] = None,
    timezone: Annotated[str, typer.Option(help="The day's time zone, e.g. Asia/Shanghai.")] = "UTC",
    zone: Annotated[
        str | None, typer.Option(help="Only events of this GridZone.", show_default=False)
    ] = None,
    output: Annotated[str, typer.Option("--format", help="text, json or csv.")] = "text",
    table: Annotated[
        str, typer.Option("--csv-table", help="With --format csv: events, curve or moves.")
    ] = "events",
    chart: Annotated[
        Path | None,
        typer.Option(help="Also write the shed curve against the target as SVG to this file."),
    ] = None,
    database_url: DatabaseOption = None,
) -> None:
    """DR compliance from the ledger alone, per event and per day: the order and target, the
    shed curve against it, Met or Missed and when, the moves with their phases and causes, the
    energy moved and the estimated saving."""
    if output not in ("text", "json", "csv"):
        raise typer.BadParameter("choose text, json or csv", param_hint="--format")
    if table not in ("events", "curve", "moves"):
        raise typer.BadParameter("choose events, curve or moves", param_hint="--csv-table")
    try:
        tz = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise typer.BadParameter(
            f"unknown time zone {timezone!r}", param_hint="--timezone"
        ) from exc
    now = datetime.now(UTC)
    try:
        when = now.astimezone(tz).date() if day is None else date.fromisoformat(day)
    except ValueError as exc:
        raise typer.BadParameter(f"{day!r} is not a day as YYYY-MM-DD", param_hint="--day") from exc
    try:
        found = overview.read_report(
            overview.database_url(database_url),
            event=event,
            day=when,
            timezone=tz,
            zone=zone,
            now=now,
        )
        if chart is not None:
            chart.write_text(svg(found.events, now=now), encoding="utf-8")
    except OSError as exc:
        raise fail(ConfigError(f"could not write the chart to {chart}: {exc}")) from exc
    except GridshiftError as exc:
        raise fail(exc) from exc
    if output == "json":
        typer.echo(formats.as_json(found), nl=False)
    elif output == "csv":
        typer.echo(formats.as_csv(found, table), nl=False)  # type: ignore[arg-type]
    else:
        typer.echo(formats.text(found), nl=False)
    if chart is not None:
        typer.echo(f"chart: {chart}", err=True)


def register(app: typer.Typer) -> None:
    """Add these commands to ``app``."""
    app.command()(why)
    app.command()(report)

"""The shed curve of DR events against their targets, as an SVG drawn from the ledger's samples.

Plain SVG text built from the numbers, nothing drawn by hand: every sample is a point whose
``data-at`` and ``data-kw`` attributes are the ledger's time and kW (kW shed, or for an import
cap the kW still drawn), placed by the same linear scales as the axes; the target is a dashed
line carrying ``data-kw``; the window's start and end, the response deadline and the time the
target was met are vertical marks with ``data-at``. One panel per event, stacked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from xml.sax.saxutils import escape, quoteattr

from orchestrator.report.compliance import EventReport, curve_value

WIDTH = 900
PANEL = 320
LEFT, RIGHT, TOP, BOTTOM = 70, 30, 40, 50
TICKS = 6


@dataclass(frozen=True, slots=True)
class Scale:
    """Linear maps from time and kW to the panel's pixels."""

    start: datetime
    end: datetime
    top_kw: float
    y0: float
    """Pixel row of the panel's top edge."""

    def x(self, at: datetime) -> float:
        span = (self.end - self.start).total_seconds() or 1.0
        return round(LEFT + (at - self.start).total_seconds() / span * (WIDTH - LEFT - RIGHT), 2)

    def y(self, kw: float) -> float:
        height = PANEL - TOP - BOTTOM
        return round(self.y0 + TOP + height - kw / (self.top_kw or 1.0) * height, 2)


def scale(report: EventReport, *, y0: float, now: datetime) -> Scale:
    """The panel's scales: the window (and every sample) across, 0 to 110 % of the largest kW up."""
    times = [report.window_start, report.window_end or now, *(p.at for p in report.curve)]
    values = [report.target_kw, *(curve_value(p, report.kind) for p in report.curve)]
    start, end = min(times), max(times)
    if end <= start:
        end = start + timedelta(minutes=1)
    return Scale(start=start, end=end, top_kw=max(values) * 1.1 or 1.0, y0=y0)


def _label(x: float, y: float, text: str, *, anchor: str = "middle", cls: str = "label") -> str:
    return f'<text class="{cls}" x="{x}" y="{y}" text-anchor="{anchor}">{escape(text)}</text>'


def _panel(report: EventReport, *, y0: float, now: datetime) -> list[str]:
    s = scale(report, y0=y0, now=now)
    bottom, top = s.y(0.0), s.y(s.top_kw)
    drawn = "kW shed" if report.kind == "shed" else "kW drawn in the zone"
    title = (
        f"{report.name}: {drawn} against the target of {report.target_kw:g} kW in {report.zone}"
        f" — {report.outcome or report.state}"
    )
    parts = [
        f'<g class="event" data-event={quoteattr(report.name)} data-kind="{report.kind}">',
        _label(LEFT, y0 + 24, title, anchor="start", cls="title"),
        f'<line class="axis" x1="{LEFT}" y1="{bottom}" x2="{WIDTH - RIGHT}" y2="{bottom}"/>',
        f'<line class="axis" x1="{LEFT}" y1="{bottom}" x2="{LEFT}" y2="{top}"/>',
    ]
    for i in range(TICKS + 1):
        kw = s.top_kw * i / TICKS
        parts.append(_label(LEFT - 6, s.y(kw) + 4, f"{kw:.0f}", anchor="end"))
        at = s.start + (s.end - s.start) * i / TICKS
        parts.append(_label(s.x(at), bottom + 18, at.strftime("%H:%M:%S")))
    parts.append(_label(WIDTH / 2, bottom + 38, f"UTC, {s.start:%Y-%m-%d}; kW"))
    marks = [
        ("window-start", report.window_start, "window opens"),
        ("deadline", report.deadline, "deadline"),
    ]
    if report.window_end is not None:
        marks.append(("window-end", report.window_end, "window closes"))
    if report.met_at is not None:
        marks.append(("met", report.met_at, "target met"))
    for cls, at, text in marks:
        x = s.x(at)
        parts.append(
            f'<line class="mark {cls}" data-at="{at.isoformat()}" x1="{x}" y1="{bottom}" '
            f'x2="{x}" y2="{top}"/>'
        )
        parts.append(_label(x + 3, top + 12, text, anchor="start", cls=f"mark-label {cls}"))
    target = s.y(report.target_kw)
    parts.append(
        f'<line class="target" data-kw="{report.target_kw:g}" x1="{LEFT}" y1="{target}" '
        f'x2="{WIDTH - RIGHT}" y2="{target}"/>'
    )
    if report.curve:
        steps: list[str] = []
        held: float | None = None
        for point in report.curve:
            x, y = s.x(point.at), s.y(curve_value(point, report.kind))
            if held is not None:
                steps.append(f"{x},{held}")  # a sample holds until the next one
            steps.append(f"{x},{y}")
            held = y
        parts.append(f'<polyline class="curve" points="{" ".join(steps)}"/>')
        for point in report.curve:
            value = curve_value(point, report.kind)
            parts.append(
                f'<circle class="sample" data-at="{point.at.isoformat()}" data-kw="{value:g}" '
                f'data-state="{point.state}" cx="{s.x(point.at)}" cy="{s.y(value)}" r="2.5"/>'
            )
    parts.append("</g>")
    return parts


STYLE = """
text { font: 12px sans-serif; fill: #222 } .title { font-weight: bold; font-size: 14px }
.axis { stroke: #444 } .target { stroke: #c0392b; stroke-dasharray: 6 4; stroke-width: 1.5 }
.curve { fill: none; stroke: #1f6fb2; stroke-width: 2 } .sample { fill: #1f6fb2 }
.mark { stroke: #888; stroke-dasharray: 2 3 } .met { stroke: #27ae60 } .deadline { stroke: #e67e22 }
.mark-label { font-size: 10px; fill: #555 }
"""


def svg(reports: Sequence[EventReport], *, now: datetime) -> str:
    """One SVG document with a panel per event (an empty note when there is none)."""
    height = max(len(reports), 1) * PANEL
    body: list[str] = []
    for index, report in enumerate(reports):
        body.extend(_panel(report, y0=index * PANEL, now=now))
    if not reports:
        body.append(_label(WIDTH / 2, PANEL / 2, "No demand-response event in the ledger."))
    return "\n".join(
        [
            '<?xml version="1.0" encoding="UTF-8"?>',
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
            f'viewBox="0 0 {WIDTH} {height}">',
            f"<style>{STYLE}</style>",
            f'<rect width="{WIDTH}" height="{height}" fill="white"/>',
            *body,
            "</svg>",
            "",
        ]
    )

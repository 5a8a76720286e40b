"""ENTSO-E day-ahead prices (document type A44) from XML to price points, purely.

A ``Publication_MarketDocument`` holds ``TimeSeries``, each with the bidding zone
(``in_Domain.mRID``), currency and unit (``EUR`` per ``MWH``), a curve type and ``Period``s:
a UTC ``timeInterval``, a ``resolution`` (``PT15M``, ``PT30M``, ``PT60M``) and ``Point``s
numbered from 1. With curve type ``A03`` (variable) a point is omitted when its price equals
the previous one, so omitted positions are forward-filled; with ``A01`` every position is given
and a missing one stays missing. Prices are returned per kWh (a per-MWh price divided by 1000).
An ``Acknowledgement_MarketDocument`` (for example "No matching data found") and any malformed
document raise ``SignalError``: never a guessed price.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET  # bounded body; expat refuses entity bombs
from dataclasses import dataclass
from datetime import datetime, timedelta

from orchestrator.errors import SignalError
from orchestrator.signals.model import Signal
from orchestrator.signals.timing import parse_duration, parse_time, utc

MAX_POINTS = 10_000
_UNIT_TO_KWH = {"MWH": 1000.0, "KWH": 1.0}


@dataclass(frozen=True, slots=True)
class PricePoint:
    """A price per kWh over ``[start, end)``."""

    start: datetime
    end: datetime
    value: float
    currency: str
    area: str


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(node: ET.Element, name: str) -> ET.Element | None:
    return next((c for c in node if _local(c.tag) == name), None)


def _text(node: ET.Element, *path: str) -> str:
    current: ET.Element | None = node
    for name in path:
        current = None if current is None else _child(current, name)
    if current is None or current.text is None or not current.text.strip():
        raise SignalError(f"ENTSO-E document: missing {'/'.join(path)}")
    return current.text.strip()


def parse_a44(body: bytes, *, area: str | None = None) -> list[PricePoint]:
    """Every price point of an A44 document (of bidding zone ``area`` when given), by time."""
    try:
        root = ET.fromstring(body)  # noqa: S314  # see the import
    except ET.ParseError as exc:
        raise SignalError(f"ENTSO-E document is not XML: {exc}") from exc
    kind = _local(root.tag)
    if kind == "Acknowledgement_MarketDocument":
        reason = next((n.text for n in root.iter() if _local(n.tag) == "text" and n.text), "")
        raise SignalError(f"ENTSO-E answered with an acknowledgement: {reason.strip()[:200]}")
    if kind != "Publication_MarketDocument" or _text(root, "type") != "A44":
        raise SignalError(f"ENTSO-E document is {kind}, not an A44 Publication_MarketDocument")
    found: dict[datetime, PricePoint] = {}
    for series in (c for c in root if _local(c.tag) == "TimeSeries"):
        domain = _text(series, "in_Domain.mRID")
        if area is not None and domain != area:
            continue
        currency = _text(series, "currency_Unit.name").upper()
        unit = _text(series, "price_Measure_Unit.name").upper()
        per_kwh = _UNIT_TO_KWH.get(unit)
        if per_kwh is None:
            raise SignalError(f"ENTSO-E price unit {unit!r} is not MWH or KWH")
        fill = _child(series, "curveType") is not None and _text(series, "curveType") == "A03"
        for period in (c for c in series if _local(c.tag) == "Period"):
            for point in _period(period, fill=fill):
                start, end, price = point
                found.setdefault(start, PricePoint(start, end, price / per_kwh, currency, domain))
                if len(found) > MAX_POINTS:
                    raise SignalError(f"ENTSO-E document has more than {MAX_POINTS} points")
    return [found[k] for k in sorted(found)]


def _period(period: ET.Element, *, fill: bool) -> list[tuple[datetime, datetime, float]]:
    start = utc(parse_time(_text(period, "timeInterval", "start")))
    end = utc(parse_time(_text(period, "timeInterval", "end")))
    step = parse_duration(_text(period, "resolution")).delta
    if step <= timedelta(0) or end <= start:
        raise SignalError("ENTSO-E period has no positive resolution or an empty interval")
    count = int((end - start) / step)
    if count > MAX_POINTS:
        raise SignalError(f"ENTSO-E period has more than {MAX_POINTS} positions")
    given: dict[int, float] = {}
    for point in (c for c in period if _local(c.tag) == "Point"):
        try:
            position = int(_text(point, "position"))
            price = float(_text(point, "price.amount"))
        except ValueError as exc:
            raise SignalError(f"ENTSO-E point is not numeric: {exc}") from exc
        if not 1 <= position <= count or price != price or abs(price) > 1e6:
            raise SignalError(f"ENTSO-E point {position} is outside its period or not finite")
        given[position] = price
    result: list[tuple[datetime, datetime, float]] = []
    last: float | None = None
    for position in range(1, count + 1):
        value = given.get(position, last if fill else None)
        if value is None:
            continue
        last = value
        begin = start + step * (position - 1)
        result.append((begin, begin + step, value))
    return result


def entsoe_signals(points: list[PricePoint], *, zone: str, revision: str) -> list[Signal]:
    """Price signals of ``points`` for ``zone``; ``revision`` marks the document's version."""
    return [
        Signal(
            source=f"entsoe:{zone}",
            external_id=f"{p.area}:{revision}:{p.start.strftime('%Y%m%dT%H%M')}",
            zone=zone,
            kind="price",
            start=p.start,
            end=p.end,
            value=p.value,
            unit=f"{p.currency}/kWh",
            event=f"entsoe:{zone}:{p.start.isoformat()}",
            revision=revision,
            extra={"area": p.area},
        )
        for p in points
    ]

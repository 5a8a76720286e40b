"""OpenADR 3 events to normalized signals: interval expansion and payload mapping, pure.

Timing follows the 3.1.0 User Guide, section 7.3:

- an event's ``intervalPeriod`` applies to every interval that has none of its own, and such
  intervals follow each other: interval *n* starts where interval *n-1* ended;
- a start of ``0001-01-01`` means "now": we anchor it at the event's ``modificationDateTime``
  (else ``createdDateTime``), so a VTN's retry of the same notification maps to the same
  intervals and stays idempotent; an event with neither (a VTN sets both) is refused, never
  anchored at our clock, which would make every retry new rows;
- ``P9999Y`` is open-ended; a missing duration is ``PT0S`` (an instant; nothing to record);
- an event-level ``duration`` truncates the intervals, or repeats them (bounded by ``horizon``)
  when it is longer than they are;
- multi-valued ``PRICE``, ``EXPORT_PRICE`` and ``GHG`` payloads split their interval into equal
  sub-intervals, one per value;
- a DELETE, or a start of ``0001-01-01`` with duration ``PT0S``, cancels the event (section 7.9);
  the cancel is placed at the event's start (its ``intervalPeriod``, else its first interval's),
  else at its modification or creation time, and refused when it has none of them.

Payload types: ``SIMPLE`` (0-3) is the peak level; ``ALERT_GRID_EMERGENCY`` is peak level 3;
``PRICE`` is a price per kWh in the descriptor's currency (per-MWh prices are divided by 1000);
``GHG`` is carbon intensity in g/kWh (lbs/MWh converted); ``IMPORT_CAPACITY_LIMIT`` and
``DISPATCH_SETPOINT`` (an absolute kW target for the site, which we hold as the most it may
draw) become one DR order per event with the lowest kW figure of its intervals. Other types are
ignored. ``randomizeStart`` is not applied: acting at the nominal start is always allowed.
A missing ``priority`` is the lowest (1000); lower numbers win.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from orchestrator.errors import SignalError
from orchestrator.signals.model import (
    EXTERNAL_ID_MAX,
    MAX_PRIORITY,
    DrOrder,
    JsonValue,
    Signal,
    SignalKind,
)
from orchestrator.signals.openadr import Event, Operation, Point
from orchestrator.signals.timing import Duration, parse_duration, parse_start, parse_time, utc

SPLIT_TYPES = frozenset({"PRICE", "EXPORT_PRICE", "GHG"})
DR_TYPES = frozenset({"IMPORT_CAPACITY_LIMIT", "DISPATCH_SETPOINT"})
MAX_SLOTS = 2000
_KW_FACTOR = {"KW": 1.0, "W": 0.001, "MW": 1000.0}
_LBS_PER_MWH_TO_G_PER_KWH = 0.45359237


@dataclass(frozen=True, slots=True)
class Slot:
    """One (sub-)interval of one payload type, with its value."""

    interval_id: int
    part: int
    start: datetime
    end: datetime | None
    value: float | int | str | bool | Point
    where: str


def is_cancellation(event: Event) -> bool:
    """Start ``0001-01-01`` with duration ``PT0S``: the VTN cancelled the event (7.9)."""
    period = event.interval_period
    if period is None or period.duration is None or parse_start(period.start) is not None:
        return False
    return period.start is not None and parse_duration(period.duration).is_zero


def _anchor(event: Event, what: str) -> datetime:
    """The event's modification (else creation) time: what "now" in it means, on every retry."""
    for stamp in (event.modified, event.created):
        if stamp:
            return utc(parse_time(stamp))
    raise SignalError(
        f"event.modificationDateTime: {what} needs the event's modificationDateTime or "
        "createdDateTime (a VTN sets both), so that a retry of this notification maps to the "
        "same intervals"
    )


def revision_of(event: Event) -> str:
    """The event's version: its modification (else creation) time in UTC ISO form, or ''."""
    stamp = event.modified or event.created
    return utc(parse_time(stamp)).isoformat() if stamp else ""


def event_id_of(event: Event) -> str:
    """The event's id; a content hash when the VTN sent none."""
    if event.id:
        return event.id
    canonical = json.dumps(event.model_dump(mode="json", by_alias=True), sort_keys=True)
    return "sha-" + hashlib.sha256(canonical.encode()).hexdigest()[:24]


def _intervals(event: Event, now: datetime) -> list[tuple[int, datetime, datetime | None]]:
    """(position, start, end) of each interval, before the event duration is applied."""
    now_start = "an event starting 0001-01-01 (now)"
    default = event.interval_period
    cursor: datetime | None = None
    if default is not None and default.start is not None:
        cursor = parse_start(default.start) or _anchor(event, now_start)
    result: list[tuple[int, datetime, datetime | None]] = []
    for position, interval in enumerate(event.intervals):
        own = interval.interval_period
        start = cursor
        if own is not None and own.start is not None:
            start = parse_start(own.start) or _anchor(event, now_start)
        if start is None:
            raise SignalError(f"event.intervals.{position}: no start (neither interval nor event)")
        text = (own.duration if own and own.duration else None) or (
            default.duration if default and default.duration else "PT0S"
        )
        end = parse_duration(text).after(utc(start))
        result.append((position, utc(start), end))
        cursor = end
        if cursor is None:
            break
    return result


def _apply_event_duration(
    spans: list[tuple[int, datetime, datetime | None]],
    duration: Duration,
    horizon: datetime,
) -> list[tuple[int, datetime, datetime | None]]:
    """Truncate ``spans`` to the event duration, or repeat them to fill it (up to ``horizon``)."""
    if not spans:
        return spans
    first, last_end = spans[0][1], spans[-1][2]
    limit = duration.after(first)
    result: list[tuple[int, datetime, datetime | None]] = []
    shift = timedelta(0)
    while len(result) < MAX_SLOTS:
        for position, start, end in spans:
            begin = start + shift
            if (limit is not None and begin >= limit) or (shift and begin >= horizon):
                return result
            finish = None if end is None else end + shift
            if limit is not None and (finish is None or finish > limit):
                finish = limit
            result.append((position, begin, finish))
        if last_end is None or last_end <= first:
            return result
        shift += last_end - first
    return result[:MAX_SLOTS]


def expand(event: Event, *, now: datetime, horizon: datetime) -> dict[str, list[Slot]]:
    """Every payload type's slots, in time order; SignalError when the timing is invalid."""
    spans = _intervals(event, now)
    if event.duration:
        spans = _apply_event_duration(spans, parse_duration(event.duration), horizon)
    slots: dict[str, list[Slot]] = {}
    count = 0
    for position, start, end in spans:
        if end is not None and end <= start:
            continue
        interval = event.intervals[position]
        for p_index, payload in enumerate(interval.payloads):
            where = f"event.intervals.{position}.payloads.{p_index}.values"
            if not payload.values:
                raise SignalError(f"{where}: a payload needs at least one value")
            values = payload.values if payload.type in SPLIT_TYPES else payload.values[:1]
            if len(values) > 1 and end is None:
                raise SignalError(f"{where}: a multi-valued payload needs a finite interval")
            step = None if end is None or len(values) == 1 else (end - start) / len(values)
            count += len(values)
            if count > MAX_SLOTS:
                raise SignalError(f"the event expands to more than {MAX_SLOTS} intervals")
            for part, value in enumerate(values):
                sub_start = start if step is None else start + step * part
                sub_end = end if step is None else start + step * (part + 1)
                slots.setdefault(payload.type, []).append(
                    Slot(interval.id, part, sub_start, sub_end, value, f"{where}.{part}")
                )
    return slots


def _number(slot: Slot) -> float:
    if isinstance(slot.value, bool) or not isinstance(slot.value, int | float):
        raise SignalError(f"{slot.where}: expected a number, got {type(slot.value).__name__}")
    return float(slot.value)


def _external_id(zone: str, event_id: str, revision: str, suffix: str) -> str:
    text = f"{zone}/{event_id}@{revision}#{suffix}"
    if len(text) <= EXTERNAL_ID_MAX:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:32]
    return f"{zone}/{digest}#{suffix}"[:EXTERNAL_ID_MAX]


def _price_unit(event: Event, payload_type: str) -> tuple[str, float]:
    descriptor = event.descriptor(payload_type)
    currency = (descriptor.currency if descriptor else None) or "XXX"
    units = ((descriptor.units if descriptor else None) or "KWH").upper()
    factor = {"KWH": 1.0, "MWH": 0.001, "WH": 1000.0}.get(units)
    if factor is None:
        raise SignalError(f"event.payloadDescriptors: price units {units!r} are not an energy unit")
    return f"{currency.upper()}/kWh", factor


def _kw_factor(event: Event, payload_type: str) -> float:
    descriptor = event.descriptor(payload_type)
    units = ((descriptor.units if descriptor else None) or "KW").upper()
    factor = _KW_FACTOR.get(units)
    if factor is None:
        raise SignalError(f"event.payloadDescriptors: {payload_type} units {units!r} are not power")
    return factor


def _ghg_factor(event: Event) -> float:
    descriptor = event.descriptor("GHG")
    units = ((descriptor.units if descriptor else None) or "").upper()
    return _LBS_PER_MWH_TO_G_PER_KWH if "LB" in units else 1.0


def event_signals(
    event: Event,
    *,
    operation: Operation,
    source: str,
    zones: Sequence[str],
    now: datetime,
    horizon: datetime,
) -> list[Signal]:
    """The signals one event notification means for ``zones``; [] for READ or unused types."""
    if operation == "READ":
        return []
    event_id = event_id_of(event)
    revision = revision_of(event)
    priority = MAX_PRIORITY if event.priority is None else min(event.priority, MAX_PRIORITY)
    if operation == "DELETE" or is_cancellation(event):
        start = _cancel_start(event)
        return [_cancel(event, event_id, revision, zone, source, start) for zone in zones]
    slots = expand(event, now=now, horizon=horizon)
    signals: list[Signal] = []
    order = _dr_order(event, event_id, slots, priority)
    for zone in zones:
        for payload_type, found in slots.items():
            for slot in found:
                made = _one(event, payload_type, slot, order)
                if made is not None:
                    suffix = f"{slot.interval_id}.{slot.part}/{payload_type}"
                    signals.append(
                        replace(
                            made,
                            source=source,
                            external_id=_external_id(zone, event_id, revision, suffix),
                            zone=zone,
                            priority=priority,
                            event=event_id,
                            revision=revision,
                        )
                    )
    return signals


def _one(event: Event, payload_type: str, slot: Slot, order: DrOrder | None) -> Signal | None:
    """The signal of one slot, with placeholder source, id and zone; None for unused types."""
    kind: SignalKind
    extra: dict[str, JsonValue] = {}
    if payload_type == "SIMPLE":
        value = _number(slot)
        if value not in (0, 1, 2, 3):
            raise SignalError(f"{slot.where}: SIMPLE levels are 0, 1, 2 or 3, got {slot.value}")
        kind, unit = "peak_level", "level"
    elif payload_type == "ALERT_GRID_EMERGENCY":
        kind, value, unit = "peak_level", 3.0, "level"
        extra = {"alert": str(slot.value)[:512]}
    elif payload_type == "PRICE":
        unit, factor = _price_unit(event, payload_type)
        kind, value = "price", _number(slot) * factor
    elif payload_type == "GHG":
        kind, value, unit = "carbon_intensity", _number(slot) * _ghg_factor(event), "g/kWh"
    elif payload_type in DR_TYPES and order is not None:
        kind, value, unit = "dr_event", _number(slot) * _kw_factor(event, payload_type), "kW"
    else:
        return None
    return Signal(
        source="?",
        external_id="?",
        zone="?",
        kind=kind,
        start=slot.start,
        end=slot.end,
        value=value,
        unit=unit,
        order=order if kind == "dr_event" else None,
        extra=extra,
    )


def _dr_order(
    event: Event, event_id: str, slots: dict[str, list[Slot]], priority: int
) -> DrOrder | None:
    found = [(t, s) for t in sorted(DR_TYPES & slots.keys()) for s in slots[t]]
    if not found:
        return None
    kw = min(_number(slot) * _kw_factor(event, t) for t, slot in found)
    if kw <= 0:
        raise SignalError(f"{found[0][1].where}: an import cap must be above 0 kW")
    ends = [slot.end for _, slot in found]
    return DrOrder(
        event_id=event_id,
        kind="import_cap",
        kw=kw,
        window_start=min(slot.start for _, slot in found),
        window_end=None if None in ends else max(e for e in ends if e is not None),
        priority=priority,
        source_kind="OpenADR",
        program=event.program_id,
    )


def _cancel_start(event: Event) -> datetime:
    """Where a cancel is placed in time, the same on every retry: the event's own start (its
    interval period's, else its first interval's), else its modification or creation time."""
    periods = [event.interval_period, *(i.interval_period for i in event.intervals[:1])]
    for period in periods:
        if period is not None and period.start is not None:
            start = parse_start(period.start)
            if start is not None:
                return utc(start)
    return _anchor(event, "cancelling an event without a start")


def _cancel(
    event: Event, event_id: str, revision: str, zone: str, source: str, start: datetime
) -> Signal:
    """A marker that cancels every signal of the event and its DemandResponseEvent."""
    order = DrOrder(
        event_id=event_id,
        kind="import_cap",
        kw=0.0,
        window_start=start,
        window_end=None,
        source_kind="OpenADR",
        program=event.program_id,
        cancelled=True,
    )
    return Signal(
        source=source,
        external_id=_external_id(zone, event_id, revision, "cancel"),
        zone=zone,
        kind="dr_event",
        start=start,
        end=None,
        value=None,
        unit="kW",
        event=event_id,
        revision=revision,
        order=order,
        extra={"cancelled": True},
    )

"""Time in the planner: peak windows ahead, how long a peak or spread lasts, prices over time.

A zone's future comes from its ``next_peak`` and ``forecast``. Where the forecast is silent the
current value is assumed to hold. Nothing here reads the clock: ``now`` is always passed in.
"""

from __future__ import annotations

import itertools
from datetime import datetime

from orchestrator.planner.model import Zone

HOUR = 3600.0


def upcoming_window(zone: Zone, threshold: int, now: datetime) -> datetime | None:
    """The earliest known start after ``now`` of a window at ``threshold`` or above."""
    starts: list[datetime] = []
    peak = zone.next_peak
    if peak is not None and peak.start > now and peak.peak_level >= threshold:
        starts.append(peak.start)
    for slot in zone.forecast:
        if slot.start > now and slot.peak_level is not None and slot.peak_level >= threshold:
            starts.append(slot.start)
            break  # slots are in time order; the first is the earliest
    return min(starts) if starts else None


def window_end(zone: Zone, threshold: int, at: datetime) -> datetime | None:
    """When the window at ``threshold`` or above that covers ``at`` ends (None: not known)."""
    peak = zone.next_peak
    if peak is not None and peak.peak_level >= threshold and peak.start <= at:
        if peak.end is None:
            return None
        if at < peak.end:
            return peak.end
    end: datetime | None = None
    cursor = at
    for slot in zone.forecast:
        if slot.end <= cursor:
            continue
        if slot.start > cursor or slot.peak_level is None or slot.peak_level < threshold:
            break
        end = cursor = slot.end
    return end


def price_at(zone: Zone, at: datetime) -> float | None:
    """The zone's price at ``at``: the forecast slot's, else the current price."""
    for slot in zone.forecast:
        if slot.start <= at < slot.end and slot.price_per_kwh is not None:
            return slot.price_per_kwh
    return zone.price_per_kwh


def _breakpoints(zones: tuple[Zone, ...], start: datetime, end: datetime) -> list[datetime]:
    points = {start, end}
    for zone in zones:
        for slot in zone.forecast:
            for edge in (slot.start, slot.end):
                if start < edge < end:
                    points.add(edge)
    return sorted(points)


def forecast_horizon(zones: tuple[Zone, ...], now: datetime) -> datetime:
    """The latest time any of ``zones``' forecasts speaks about (``now`` if none does)."""
    ends = [slot.end for zone in zones for slot in zone.forecast]
    return max([now, *ends])


def saving_per_kw(source: Zone, target: Zone, start: datetime, end: datetime) -> float:
    """Currency saved per kW running in ``target`` instead of ``source`` over ``[start, end)``.

    Unknown prices count as no difference.
    """
    total = 0.0
    points = _breakpoints((source, target), start, end)
    for left, right in itertools.pairwise(points):
        here, there = price_at(source, left), price_at(target, left)
        if here is not None and there is not None:
            total += (here - there) * (right - left).total_seconds() / HOUR
    return total


def spread_lasts_until(
    *, source: Zone, target: Zone, min_spread: float, now: datetime, until: datetime
) -> datetime | None:
    """Until when ``source`` stays dearer than ``target`` by ``min_spread``, looking to ``until``.

    None when the spread does not hold at ``now``; ``until`` when it holds throughout.
    """
    points = _breakpoints((source, target), now, max(now, until))
    for left in points[:-1] or points:
        here, there = price_at(source, left), price_at(target, left)
        if here is None or there is None or here - there < min_spread:
            return None if left == now else left
    return max(now, until)


def calm_since(zone: Zone, below: int, now: datetime) -> datetime | None:
    """Since when the zone's level has been strictly below ``below``; None means forever.

    Callers check the current level first; for a zone at ``below`` or above this is ``now``.
    A history whose newest entry disagrees with the current level has not caught up: the calm
    counts from ``now``. A history that is calm throughout counts from its oldest entry.
    """
    if zone.peak_level >= below:
        return now
    history = zone.level_history
    if not history:
        return None
    if history[-1].level >= below:
        return now  # calm now, but the history has not caught up: wait the full period
    since = history[-1].at
    for change in reversed(history):
        if change.level >= below:
            return since
        since = change.at
    return since

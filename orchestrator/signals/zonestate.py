"""A GridZone's status from its signals, its spec and the clock: pure.

Which signals count:

- signals of one source event are superseded by a newer revision of that event; an event whose
  newest revision carries a cancellation counts no more (OpenADR DELETE, PT0S, native cancel);
- among the signals of a kind that cover ``now``, the lowest ``priority`` wins, then the newest
  revision, then the newest row (pushed prices have priority 0, the tariff's 1000);
- prices count only in the zone's currency per kWh, and only within the status bounds.

The zone is Stale when its newest signal was received more than ``signalTTLSeconds`` ago, or
never: condition ``SignalsFresh`` turns False with reason ``Stale`` (or ``NoSignal``) and the
planner holds. A stale zone still shows the last real price covering ``now``; nothing is
estimated. Without a peak-level signal the tariff's period gives the level.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from orchestrator.api.common import Condition
from orchestrator.api.gridzone import ForecastPoint, GridZoneSpec, GridZoneStatus, PeakWindow
from orchestrator.signals.model import Signal, SignalKind, StoredSignal
from orchestrator.signals.tou import PEAK_LEVEL, Schedule, next_peak, period_at

CONDITION = "SignalsFresh"
REASON_FRESH = "Fresh"
REASON_STALE = "Stale"
REASON_NO_SIGNAL = "NoSignal"
MAX_FORECAST = 192
_BOUNDS: dict[SignalKind, tuple[float, float]] = {
    "price": (-100.0, 100.0),
    "peak_level": (0.0, 3.0),
    "carbon_intensity": (0.0, 2000.0),
    "green_ratio": (0.0, 1.0),
}


@dataclass(frozen=True, slots=True)
class ZoneInputs:
    """Everything the status of one zone is derived from."""

    generation: int | None
    spec: GridZoneSpec
    previous: GridZoneStatus | None
    signals: Sequence[StoredSignal]
    active_events: Sequence[str]
    last_signal_time: datetime | None
    last_signal_id: str | None
    schedule: Schedule | None = None
    feed_problem: str | None = None


def revision_key(signal: Signal) -> datetime:
    if not signal.revision:
        return datetime.min.replace(tzinfo=UTC)
    try:
        return datetime.fromisoformat(signal.revision)
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)


def is_cancel(signal: Signal) -> bool:
    """Whether ``signal`` is a cancellation marker."""
    return signal.extra.get("cancelled") is True or (
        signal.order is not None and signal.order.cancelled
    )


def effective(signals: Iterable[StoredSignal]) -> list[StoredSignal]:
    """The signals that still count: newest revision of each event, cancelled events dropped."""
    groups: dict[tuple[str, str, str], list[StoredSignal]] = {}
    for stored in signals:
        s = stored.signal
        groups.setdefault((s.source, s.event or s.external_id, s.zone), []).append(stored)
    kept: list[StoredSignal] = []
    for members in groups.values():
        newest = max(revision_key(m.signal) for m in members)
        latest = [m for m in members if revision_key(m.signal) == newest]
        if any(is_cancel(m.signal) for m in latest):
            continue
        kept.extend(latest)
    return kept


def _rank(stored: StoredSignal) -> tuple[int, float, int]:
    return (stored.signal.priority, -revision_key(stored.signal).timestamp(), -stored.id)


def _usable(stored: StoredSignal, kind: SignalKind, currency: str) -> bool:
    s = stored.signal
    if s.kind != kind or s.value is None:
        return False
    if kind == "price" and s.unit != f"{currency}/kWh":
        return False
    low, high = _BOUNDS[kind]
    return low <= s.value <= high


def current(
    signals: Iterable[StoredSignal], kind: SignalKind, *, now: datetime, currency: str
) -> Signal | None:
    """The winning signal of ``kind`` covering ``now`` among already-effective ``signals``."""
    found = [s for s in signals if _usable(s, kind, currency) and s.signal.covers(now)]
    return min(found, key=_rank).signal if found else None


def forecast(
    signals: Iterable[StoredSignal], *, now: datetime, horizon: timedelta, currency: str
) -> list[ForecastPoint]:
    """Price and peak level of each future interval within ``horizon``, in time order."""
    by_span: dict[tuple[datetime, datetime], dict[str, StoredSignal]] = {}
    for stored in signals:
        s = stored.signal
        if s.kind not in ("price", "peak_level") or not _usable(stored, s.kind, currency):
            continue
        if s.end is None or s.start <= now or s.start >= now + horizon:
            continue
        slot = by_span.setdefault((s.start, s.end), {})
        if s.kind not in slot or _rank(stored) < _rank(slot[s.kind]):
            slot[s.kind] = stored
    points = []
    for (start, end), slot in sorted(by_span.items())[:MAX_FORECAST]:
        price, level = slot.get("price"), slot.get("peak_level")
        points.append(
            ForecastPoint(
                start=start,
                end=end,
                price_per_kwh=None if price is None else price.signal.value,
                peak_level=None
                if level is None or level.signal.value is None
                else int(level.signal.value),
            )
        )
    return points


def freshness(
    *, last: datetime | None, ttl_seconds: int, now: datetime, problem: str | None
) -> tuple[bool, str, str]:
    """(stale, reason, message) of the ``SignalsFresh`` condition."""
    hint = f" Last feed error: {problem}" if problem else ""
    if last is None:
        return (
            True,
            REASON_NO_SIGNAL,
            (
                "No signal has been received for this zone, so the planner holds. Check its "
                f"priceFeeds and that the grid operator's webhook names it.{hint}"
            ),
        )
    age = (now - last).total_seconds()
    if age > ttl_seconds:
        return (
            True,
            REASON_STALE,
            (
                f"The newest signal is {age:.0f} s old, older than signalTTLSeconds "
                f"({ttl_seconds}), so the planner holds. Check the zone's feeds and webhook.{hint}"
            ),
        )
    return False, REASON_FRESH, f"The newest signal is {max(age, 0):.0f} s old."


def _condition(
    previous: GridZoneStatus | None,
    *,
    status: str,
    reason: str,
    message: str,
    now: datetime,
    generation: int | None,
) -> Condition:
    since = now
    for old in previous.conditions if previous else []:
        if old.type == CONDITION and old.status == status:
            since = old.last_transition_time
    return Condition(
        type=CONDITION,
        status=status,
        reason=reason,
        message=message[:4096],
        last_transition_time=since,
        observed_generation=generation,
    )


def next_peak_window(
    ahead: list[ForecastPoint], schedule: Schedule | None, *, now: datetime, horizon: timedelta
) -> PeakWindow | None:
    """The first forecast interval at peak level 2 or more; else the tariff's next peak."""
    for point in ahead:
        if point.peak_level is not None and point.peak_level >= 2:
            return PeakWindow(start=point.start, end=point.end, peak_level=point.peak_level)
    if schedule is not None:
        span = next_peak(schedule, now, horizon=horizon)
        if span is not None:
            return PeakWindow(start=span.start, end=span.end, peak_level=PEAK_LEVEL[span.period])
    return None


def derive_status(inputs: ZoneInputs, *, now: datetime, horizon: timedelta) -> GridZoneStatus:
    """The zone's status at ``now``."""
    spec = inputs.spec
    counted = effective(inputs.signals)
    price = current(counted, "price", now=now, currency=spec.currency)
    level = current(counted, "peak_level", now=now, currency=spec.currency)
    carbon = current(counted, "carbon_intensity", now=now, currency=spec.currency)
    green = current(counted, "green_ratio", now=now, currency=spec.currency)
    period = period_at(inputs.schedule, now) if inputs.schedule else None
    peak = (
        int(level.value)
        if level is not None and level.value is not None
        else (PEAK_LEVEL[period] if period is not None else 0)
    )
    stale, reason, message = freshness(
        last=inputs.last_signal_time,
        ttl_seconds=spec.signal_ttl_seconds,
        now=now,
        problem=inputs.feed_problem,
    )
    keep = [
        c for c in (inputs.previous.conditions if inputs.previous else []) if c.type != CONDITION
    ]
    condition = _condition(
        inputs.previous,
        status="False" if stale else "True",
        reason=reason,
        message=message,
        now=now,
        generation=inputs.generation,
    )
    ahead = forecast(counted, now=now, horizon=horizon, currency=spec.currency)
    return GridZoneStatus(
        observed_generation=inputs.generation,
        conditions=[*keep, condition],
        price_per_kwh=None if price is None else price.value,
        price_currency=None if price is None else spec.currency,
        price_unit=None if price is None else price.unit[:32],
        price_interval_start=None if price is None else price.start,
        price_interval_end=None if price is None else price.end,
        next_peak=next_peak_window(ahead, inputs.schedule, now=now, horizon=horizon),
        tou_period=period,
        peak_level=peak,
        green_power_ratio=green.value if green is not None else spec.green_power_ratio,
        carbon_intensity_g_per_kwh=(
            carbon.value if carbon is not None else spec.carbon_intensity_g_per_kwh
        ),
        active_events=sorted(set(inputs.active_events))[:64],
        forecast=ahead,
        last_signal_time=inputs.last_signal_time,
        last_signal_id=inputs.last_signal_id,
        stale=stale,
    )

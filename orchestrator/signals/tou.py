"""Time-of-use tariffs: which period (and price) applies at a moment, purely, by season and clock.

A :class:`Schedule` is a tariff reduced to what a lookup needs: per season the months and the
half-open windows of local wall time, the price of each period where one is known, and where the
numbers came from. It is built from a GridZone's ``spec.tariff`` (:meth:`Schedule.from_tariff`)
or from the shipped dataset ``data/tou-tariffs.yaml`` (:mod:`orchestrator.signals.tou_data`).
A period without a price yields no price: nothing here multiplies ratios into prices, because
the provinces' ratios apply to the energy part of the price only (see the dataset's
``ratio_basis``), and nothing is estimated.

Peak levels follow the period: deep valley and valley 0, flat 1 (shoulder), peak 2, critical
peak 3.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from orchestrator.api.gridzone import TouPeriod, TouTariff
from orchestrator.errors import ConfigError, SignalError
from orchestrator.signals.model import MAX_PRIORITY, Signal

PEAK_LEVEL: Mapping[TouPeriod, int] = {
    "DeepValley": 0,
    "Valley": 0,
    "Flat": 1,
    "Peak": 2,
    "CriticalPeak": 3,
}
PEAK_PERIODS: frozenset[TouPeriod] = frozenset({"Peak", "CriticalPeak"})


@dataclass(frozen=True, slots=True)
class Window:
    """``[start, end)`` in minutes after local midnight (``end`` may be 1440) and its period."""

    start: int
    end: int
    period: TouPeriod


@dataclass(frozen=True, slots=True)
class Season:
    """The windows that apply in some months."""

    months: frozenset[int]
    windows: tuple[Window, ...]


@dataclass(frozen=True, slots=True)
class Schedule:
    """A tariff ready for lookups: seasons, known prices per kWh, timezone and provenance."""

    seasons: tuple[Season, ...]
    timezone: str
    prices: Mapping[TouPeriod, float] = field(default_factory=dict)
    currency: str = "CNY"
    source: str = ""

    def __post_init__(self) -> None:
        zone_of(self.timezone)
        for season in self.seasons:
            cursor = 0
            for window in season.windows:
                if window.start != cursor or window.end <= window.start:
                    raise ConfigError(
                        f"tariff windows of months {sorted(season.months)} "
                        "must cover the day in order without gaps"
                    )
                cursor = window.end
            if cursor != 24 * 60:
                raise ConfigError(
                    f"tariff windows of months {sorted(season.months)} end before 24:00"
                )

    @classmethod
    def from_tariff(cls, tariff: TouTariff, *, timezone: str, currency: str) -> Schedule:
        """The schedule of a GridZone's ``spec.tariff``."""
        prices = tariff.prices_per_kwh
        known: dict[TouPeriod, float | None] = {
            "CriticalPeak": prices.critical_peak,
            "Peak": prices.peak,
            "Flat": prices.flat,
            "Valley": prices.valley,
            "DeepValley": prices.deep_valley,
        }
        return cls(
            seasons=tuple(
                Season(
                    months=frozenset(s.months),
                    windows=tuple(
                        Window(minutes(w.start), minutes(w.end), w.period) for w in s.windows
                    ),
                )
                for s in tariff.seasons
            ),
            timezone=timezone,
            prices={k: v for k, v in known.items() if v is not None},
            currency=currency,
            source=f"{tariff.source} ({tariff.tariff_class}, prices of {tariff.price_month})",
        )

    @property
    def fingerprint(self) -> str:
        """A short hash of everything a lookup depends on: changes when the tariff does."""
        text = json.dumps(
            [
                [
                    [sorted(s.months), [[w.start, w.end, w.period] for w in s.windows]]
                    for s in self.seasons
                ],
                self.timezone,
                sorted(self.prices.items()),
                self.currency,
            ]
        )
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def season_for(self, month: int) -> Season | None:
        """The season of ``month``, if the tariff covers it."""
        return next((s for s in self.seasons if month in s.months), None)


def minutes(hhmm: str) -> int:
    """Minutes after midnight of ``HH:MM`` (``24:00`` is 1440)."""
    hours, _, mins = hhmm.partition(":")
    if not (hours.isdigit() and mins.isdigit()):
        raise ConfigError(f"time of day {hhmm!r} is not HH:MM")
    value = int(hours) * 60 + int(mins)
    if not 0 <= value <= 24 * 60 or int(mins) > 59:
        raise ConfigError(f"time of day {hhmm!r} is out of range")
    return value


def zone_of(name: str) -> ZoneInfo:
    """The IANA timezone ``name``; ``ConfigError`` when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"timezone {name!r} is not an IANA timezone") from exc


def period_at(schedule: Schedule, when: datetime) -> TouPeriod | None:
    """The period in force at ``when``; None when the tariff has no season for that month."""
    local = when.astimezone(zone_of(schedule.timezone))
    season = schedule.season_for(local.month)
    if season is None:
        return None
    minute = local.hour * 60 + local.minute
    return next(w.period for w in season.windows if w.start <= minute < w.end)


@dataclass(frozen=True, slots=True)
class Span:
    """A concrete window: ``[start, end)`` in UTC and its period."""

    start: datetime
    end: datetime
    period: TouPeriod


def spans(schedule: Schedule, start: datetime, end: datetime) -> Iterator[Span]:
    """The tariff's windows overlapping ``[start, end)``, clipped to it, in time order."""
    tz = zone_of(schedule.timezone)
    day: date = start.astimezone(tz).date()
    while True:
        midnight = datetime.combine(day, time(0), tzinfo=tz)
        if midnight >= end:
            return
        season = schedule.season_for(day.month)
        for window in season.windows if season else ():
            begin = _local(day, window.start, tz)
            finish = _local(day, window.end, tz)
            if finish <= start or begin >= end:
                continue
            yield Span(
                max(begin, start).astimezone(UTC), min(finish, end).astimezone(UTC), window.period
            )
        day += timedelta(days=1)


def _local(day: date, minute: int, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz) + timedelta(minutes=minute)


def next_peak(schedule: Schedule, now: datetime, *, horizon: timedelta) -> Span | None:
    """The next peak or critical-peak window starting after ``now`` within ``horizon``."""
    for span in spans(schedule, now, now + horizon):
        if span.period in PEAK_PERIODS and span.start > now:
            return span
    return None


def tou_signals(
    schedule: Schedule, *, zone: str, now: datetime, horizon: timedelta
) -> list[Signal]:
    """Price and peak-level signals for each window from the start of ``now``'s window on.

    Prices come only for periods the schedule prices. The external ids include the schedule's
    fingerprint, so a changed tariff records new rows and an unchanged one records nothing new.
    Tariff signals carry the lowest priority: a pushed price or peak level overrides them.
    """
    if now.tzinfo is None:
        raise SignalError("now must carry a timezone")
    found: list[Signal] = []
    source = f"tou:{zone}"
    tag = schedule.fingerprint
    local = now.astimezone(zone_of(schedule.timezone))
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    today = list(spans(schedule, midnight, now + timedelta(seconds=1)))
    begin = today[-1].start if today else now
    for span in _merged(spans(schedule, begin, now + horizon)):
        stamp = span.start.strftime("%Y%m%dT%H%M")
        level = Signal(
            source=source,
            external_id=f"{tag}:{stamp}:level",
            zone=zone,
            kind="peak_level",
            start=span.start,
            end=span.end,
            value=float(PEAK_LEVEL[span.period]),
            unit="level",
            priority=MAX_PRIORITY,
            event=f"tou:{zone}:{tag}",
            extra={"period": span.period, "tariff": schedule.source[:512]},
        )
        found.append(level)
        price = schedule.prices.get(span.period)
        if price is not None:
            found.append(
                replace(
                    level,
                    external_id=f"{tag}:{stamp}:price",
                    kind="price",
                    value=price,
                    unit=f"{schedule.currency}/kWh",
                )
            )
    return found


def _merged(found: Iterator[Span]) -> Iterator[Span]:
    """Adjacent spans of the same period as one."""
    current: Span | None = None
    for span in found:
        if current is not None and current.period == span.period and current.end == span.start:
            current = Span(current.start, span.end, current.period)
            continue
        if current is not None:
            yield current
        current = span
    if current is not None:
        yield current

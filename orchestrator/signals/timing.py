"""Times and durations as OpenADR 3 writes them (RFC 3339 and ISO 8601), parsed purely.

OpenADR gives two special values (User Guide section 7.3): a start of ``0001-01-01`` means "now"
and a duration of ``P9999Y`` means "until further notice". :func:`parse_start` reports the first
as ``None``; :class:`Duration` reports the second as ``infinite``.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from orchestrator.errors import SignalError

_DURATION = re.compile(
    r"^(?P<sign>[-+])?P(?!$)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?"
    r"(?:(?P<days>\d+)D)?(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?"
    r"(?:(?P<seconds>\d+(?:[.,]\d+)?)S)?)?$"
)
INFINITE_YEARS = 9999
_MAX_FINITE_DAYS = 3_650_000


@dataclass(frozen=True, slots=True)
class Duration:
    """An ISO 8601 duration: calendar ``months`` plus exact ``delta``, or ``infinite``."""

    months: int = 0
    delta: timedelta = timedelta(0)
    infinite: bool = False

    @property
    def is_zero(self) -> bool:
        """``PT0S`` and friends."""
        return not self.infinite and self.months == 0 and self.delta == timedelta(0)

    def after(self, start: datetime) -> datetime | None:
        """``start`` plus this duration; ``None`` when infinite."""
        if self.infinite:
            return None
        try:
            return add_months(start, self.months) + self.delta
        except OverflowError as exc:
            raise SignalError("a duration reaches past the year 9999") from exc


def parse_duration(text: str) -> Duration:
    """Parse ``PnYnMnWnDTnHnMnS``; ``SignalError`` naming the text when it is not one."""
    match = _DURATION.match(text.strip()) if len(text) <= 64 else None
    if match is None or match.group("sign") == "-":
        raise SignalError(f"duration {text[:64]!r} is not a non-negative ISO 8601 duration")
    part = {k: v for k, v in match.groupdict().items() if k != "sign"}
    years = int(part["years"] or 0)
    if years >= INFINITE_YEARS:
        return Duration(infinite=True)
    months = years * 12 + int(part["months"] or 0)
    days = int(part["weeks"] or 0) * 7 + int(part["days"] or 0)
    seconds = float((part["seconds"] or "0").replace(",", "."))
    if months > 12 * 1000 or days > _MAX_FINITE_DAYS:
        raise SignalError(f"duration {text!r} is too long; use P9999Y for open-ended")
    try:
        delta = timedelta(
            days=days,
            hours=int(part["hours"] or 0),
            minutes=int(part["minutes"] or 0),
            seconds=seconds,
        )
    except OverflowError as exc:
        raise SignalError(f"duration {text!r} is too long; use P9999Y for open-ended") from exc
    if delta.days > _MAX_FINITE_DAYS:
        raise SignalError(f"duration {text!r} is too long; use P9999Y for open-ended")
    return Duration(months=months, delta=delta)


def add_months(when: datetime, months: int) -> datetime:
    """``when`` moved by whole calendar months, the day clamped to the month's length."""
    if months == 0:
        return when
    index = when.month - 1 + months
    year, month = when.year + index // 12, index % 12 + 1
    if year > 9999:
        raise SignalError("a duration reaches past the year 9999")
    day = min(when.day, calendar.monthrange(year, month)[1])
    return when.replace(year=year, month=month, day=day)


def parse_time(text: str) -> datetime:
    """An RFC 3339 time (or a date, meaning its midnight); UTC when it carries no offset."""
    try:
        value = datetime.fromisoformat(text.strip()) if len(text) <= 64 else None
    except ValueError:
        value = None
    if value is None:
        raise SignalError(f"time {text[:64]!r} is not an RFC 3339 date-time")
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def parse_start(text: str | None) -> datetime | None:
    """An interval start; ``None`` when it is the "now" sentinel ``0001-01-01``."""
    if text is None:
        return None
    value = parse_time(text)
    return None if value.year == 1 and value.month == 1 and value.day == 1 else value


def utc(value: datetime) -> datetime:
    """``value`` in UTC; refuse a naive time (we never guess a zone)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise SignalError(f"time {value.isoformat()} carries no timezone")
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise SignalError(f"time {value.isoformat()} is outside the calendar in UTC") from exc

"""ISO 8601 durations and RFC 3339 starts as OpenADR writes them, including its two sentinels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.errors import SignalError
from orchestrator.signals.timing import add_months, parse_duration, parse_start, parse_time

T0 = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "delta"),
    [
        ("PT15M", timedelta(minutes=15)),
        ("PT1H", timedelta(hours=1)),
        ("P1D", timedelta(days=1)),
        ("P1W", timedelta(days=7)),
        ("PT0S", timedelta(0)),
        ("P1DT2H3M4.5S", timedelta(days=1, hours=2, minutes=3, seconds=4.5)),
    ],
)
def test_exact_durations(text: str, delta: timedelta) -> None:
    """Days, weeks, hours, minutes and fractional seconds are exact."""
    assert parse_duration(text).after(T0) == T0 + delta


def test_p9999y_is_infinite() -> None:
    """P9999Y has no end."""
    duration = parse_duration("P9999Y")
    assert duration.infinite
    assert duration.after(T0) is None


def test_months_follow_the_calendar() -> None:
    """P1M from 31 January ends on the last day of February."""
    assert parse_duration("P1M").after(T0) == datetime(2026, 2, 28, 12, 0, tzinfo=UTC)
    assert add_months(T0, 12) == datetime(2027, 1, 31, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "text", ["", "P", "PT", "1H", "-PT1H", "PT1X", "P1.5D", "PT" + "9" * 70 + "H"]
)
def test_malformed_durations_are_refused(text: str) -> None:
    """Anything that is not a non-negative ISO 8601 duration is a SignalError."""
    with pytest.raises(SignalError):
        parse_duration(text)


def test_huge_durations_are_refused_not_overflowed() -> None:
    """A duration past the calendar is a SignalError, not an OverflowError."""
    with pytest.raises(SignalError):
        parse_duration("PT99999999999H")
    with pytest.raises(SignalError):
        parse_duration("P9000Y").after(T0)


def test_now_sentinel_and_naive_times() -> None:
    """0001-01-01 (with or without time) means now; a naive time is read as UTC."""
    assert parse_start("0001-01-01") is None
    assert parse_start("0001-01-01T00:00:00Z") is None
    assert parse_start(None) is None
    assert parse_time("2026-07-15T04:00:00") == datetime(2026, 7, 15, 4, tzinfo=UTC)
    assert parse_start("2026-07-15T12:00:00+08:00") == datetime(2026, 7, 15, 4, tzinfo=UTC)


@given(
    days=st.integers(0, 400),
    hours=st.integers(0, 48),
    minutes=st.integers(0, 120),
    seconds=st.integers(0, 120),
)
def test_written_durations_read_back(days: int, hours: int, minutes: int, seconds: int) -> None:
    """Any PnDTnHnMnS duration reads back as the sum of its parts."""
    text = f"P{days}DT{hours}H{minutes}M{seconds}S"
    expected = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    assert parse_duration(text).after(T0) == T0 + expected

"""A zone's status from its signals: which signal wins, freshness and Stale, forecast."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from orchestrator.api.gridzone import GridZoneSpec, GridZoneStatus
from orchestrator.signals.model import Signal, StoredSignal
from orchestrator.signals.tou import Schedule
from orchestrator.signals.tou_data import dataset_schedule
from orchestrator.signals.zonestate import ZoneInputs, derive_status

NOW = datetime(2026, 7, 15, 4, 10, tzinfo=UTC)
HOUR = timedelta(hours=1)
SPEC = GridZoneSpec.model_validate(
    {"currency": "CNY", "signalTTLSeconds": 900, "greenPowerRatio": 0.3}
)


def price(
    value: float,
    *,
    start: datetime = NOW - HOUR,
    end: datetime | None = NOW + HOUR,
    priority: int = 0,
    source: str = "native:op",
    event: str = "",
    revision: str = "",
    unit: str = "CNY/kWh",
    ext: str | None = None,
) -> Signal:
    """A price signal."""
    return Signal(
        source=source,
        external_id=ext or f"p{value}{start}{revision}",
        zone="z",
        kind="price",
        start=start,
        end=end,
        value=value,
        unit=unit,
        priority=priority,
        event=event or f"e{value}",
        revision=revision,
    )


def rows(*signals: Signal, received: datetime = NOW) -> list[StoredSignal]:
    """Signals as ledger rows, ids in order."""
    return [StoredSignal(i, s, received, None) for i, s in enumerate(signals, start=1)]


def status(
    signals: list[StoredSignal],
    *,
    last: datetime | None = NOW,
    now: datetime = NOW,
    spec: GridZoneSpec = SPEC,
    previous: GridZoneStatus | None = None,
    schedule: Schedule | None = None,
    feed_problem: str | None = None,
) -> GridZoneStatus:
    """The derived status."""
    inputs = ZoneInputs(
        generation=3,
        spec=spec,
        previous=previous,
        signals=signals,
        active_events=[],
        last_signal_time=last,
        last_signal_id="x",
        schedule=schedule,
        feed_problem=feed_problem,
    )
    return derive_status(inputs, now=now, horizon=timedelta(days=2))


def test_lowest_priority_number_wins() -> None:
    """A priority-0 price beats the tariff's priority-1000 price covering the same moment."""
    got = status(rows(price(0.9, priority=1000), price(1.2, priority=0)))
    assert got.price_per_kwh == 1.2


def test_newer_revision_supersedes_the_event() -> None:
    """Within one event only the newest revision counts, even if its interval differs."""
    old = price(1.0, event="evt", revision="2026-07-15T01:00:00+00:00")
    new = price(
        2.0, event="evt", revision="2026-07-15T02:00:00+00:00", start=NOW + HOUR, end=NOW + 2 * HOUR
    )
    got = status(rows(old, new))
    assert got.price_per_kwh is None
    assert [p.price_per_kwh for p in got.forecast] == [2.0]


def test_cancelled_event_counts_no_more() -> None:
    """A cancel marker at the newest revision removes the event's signals."""
    marker = replace(
        price(0.0, event="evt"), kind="peak_level", value=None, extra={"cancelled": True}
    )
    got = status(rows(price(1.5, event="evt"), marker))
    assert got.price_per_kwh is None


def test_other_currency_and_out_of_bounds_prices_are_ignored() -> None:
    """USD prices in a CNY zone and prices outside the status bounds are not shown."""
    got = status(rows(price(0.2, unit="USD/kWh"), price(250.0)))
    assert got.price_per_kwh is None


def test_fresh_zone_within_ttl() -> None:
    """A signal 10 minutes old with a 15-minute TTL: fresh, condition True."""
    got = status(rows(price(1.1)), last=NOW - timedelta(minutes=10))
    assert not got.stale
    (cond,) = got.conditions
    assert (cond.type, cond.status, cond.reason, cond.observed_generation) == (
        "SignalsFresh",
        "True",
        "Fresh",
        3,
    )


def test_stale_after_ttl_keeps_the_real_price() -> None:
    """Past the TTL the zone is Stale with a message to act on; the price shown is the real one."""
    got = status(rows(price(1.1)), last=NOW - timedelta(minutes=16), feed_problem="HTTP 503")
    assert got.stale
    assert got.price_per_kwh == 1.1
    (cond,) = got.conditions
    assert (cond.status, cond.reason) == ("False", "Stale")
    assert "planner holds" in cond.message
    assert "HTTP 503" in cond.message


def test_no_signal_ever_is_stale() -> None:
    """Without any signal the zone is Stale (NoSignal) with no price and the spec's green ratio."""
    got = status([], last=None)
    assert got.stale
    assert got.price_per_kwh is None
    assert got.green_power_ratio == 0.3
    assert got.conditions[0].reason == "NoSignal"


def test_transition_time_moves_only_on_change() -> None:
    """lastTransitionTime stays while the condition holds and moves when it flips."""
    first = status(rows(price(1.1)), last=NOW)
    later = status(rows(price(1.1)), last=NOW, now=NOW + timedelta(minutes=5), previous=first)
    assert later.conditions[0].last_transition_time == NOW
    flipped = status(rows(price(1.1)), last=NOW, now=NOW + timedelta(minutes=20), previous=later)
    assert flipped.conditions[0].last_transition_time == NOW + timedelta(minutes=20)


def test_peak_level_falls_back_to_the_tariff_period() -> None:
    """Without a peak-level signal, Shanghai's 12:30 critical peak gives level 3."""
    schedule = dataset_schedule("CN-SH", on=NOW.date())
    got = status([], last=NOW, now=datetime(2026, 7, 15, 4, 30, tzinfo=UTC), schedule=schedule)
    assert (got.tou_period, got.peak_level) == ("CriticalPeak", 3)


def test_forecast_lists_future_intervals_in_order() -> None:
    """Future prices appear in the forecast, in time order, the current one does not."""
    future = [price(float(i), start=NOW + i * HOUR, end=NOW + (i + 1) * HOUR) for i in (3, 1, 2)]
    got = status(rows(price(9.0), *future))
    assert [p.price_per_kwh for p in got.forecast] == [1.0, 2.0, 3.0]


@given(ages=st.lists(st.integers(0, 3600), min_size=1, max_size=5), ttl=st.integers(60, 3600))
def test_stale_exactly_when_older_than_ttl(ages: list[int], ttl: int) -> None:
    """The zone is stale if and only if the newest signal is older than the TTL."""
    spec = SPEC.model_copy(update={"signal_ttl_seconds": ttl})
    newest = NOW - timedelta(seconds=min(ages))
    got = status(rows(price(1.0)), last=newest, spec=spec)
    assert got.stale == (min(ages) > ttl)


def test_current_price_carries_its_currency_unit_and_interval() -> None:
    """The price shown says what it is: CNY, the source's unit, and the interval it covers."""
    got = status(rows(price(1.1637)))
    assert got.price_per_kwh == 1.1637
    assert (got.price_currency, got.price_unit) == ("CNY", "CNY/kWh")
    assert (got.price_interval_start, got.price_interval_end) == (NOW - HOUR, NOW + HOUR)
    assert status([], last=None).price_currency is None


def test_next_peak_comes_from_the_tariff_when_no_forecast_says_otherwise() -> None:
    """At 04:10 UTC (12:10 in Shanghai, July) the next peak window is 14:00-15:00 local, level 2."""
    schedule = dataset_schedule("CN-SH", on=NOW.date())
    got = status([], last=NOW, schedule=schedule)
    assert got.next_peak is not None
    assert got.next_peak.start == datetime(2026, 7, 15, 6, 0, tzinfo=UTC)
    assert got.next_peak.peak_level == 2


def test_next_peak_from_a_forecast_peak_level() -> None:
    """A forecast peak-level signal of 3 in two hours is the next peak."""
    start = NOW + 2 * HOUR
    level = Signal(
        source="native:op", external_id="pk", zone="z", kind="peak_level", start=start,
        end=start + HOUR, value=3.0, unit="level", event="pk",
    )  # fmt: skip
    got = status(rows(level))
    assert got.next_peak is not None
    assert (got.next_peak.start, got.next_peak.end, got.next_peak.peak_level) == (
        start, start + HOUR, 3,
    )  # fmt: skip

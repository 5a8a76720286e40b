"""Time-of-use lookups by season and local time, and the shipped provincial dataset."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.api.gridzone import TouTariff
from orchestrator.errors import ConfigError
from orchestrator.signals.tou import (
    PEAK_LEVEL,
    Schedule,
    Season,
    Window,
    next_peak,
    period_at,
    spans,
    tou_signals,
)
from orchestrator.signals.tou_data import PERIODS, dataset_schedule, load_dataset

CST = timedelta(hours=8)
ZONES = [
    "CN-SH",
    "CN-HB",
    "CN-NX",
    "CN-NM-W",
    "CN-GS",
    "CN-GZ",
    "CN-GD",
    "CN-ZJ",
    "CN-JS",
    "CN-BJ",
    "CN-FJ",
]
ON = date(2026, 11, 30)


def _cst(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """A Beijing wall time as an aware UTC datetime."""
    return datetime(year, month, day, hour, minute, tzinfo=UTC) - CST


def test_dataset_ships_with_its_sources_and_confidence() -> None:
    """The packaged YAML keeps every version's source and confidence and every price's read_at."""
    data = load_dataset()
    assert data["dataset_version"] == "2026-11-30"
    assert len(data["provinces"]) == 11
    for province in data["provinces"]:
        for version in province["versions"]:
            assert version["source"]["read_at"], version["id"]
            assert version["confidence"] in ("primary", "secondary"), version["id"]
            for row in version.get("prices_cny_per_kwh") or []:
                assert row["read_at"], version["id"]
                assert row["confidence"], version["id"]


@pytest.mark.parametrize("zone", ZONES)
def test_every_province_has_a_full_day_schedule(zone: str) -> None:
    """Each province's schedule in force covers every month, windows tiling 00:00-24:00."""
    schedule = dataset_schedule(zone, on=ON)
    assert {m for s in schedule.seasons for m in s.months} == set(range(1, 13))
    assert schedule.timezone == "Asia/Shanghai"
    assert "confidence" in schedule.source


@pytest.mark.parametrize("zone", ZONES)
def test_dataset_prices_are_never_invented(zone: str) -> None:
    """Every price a schedule carries is a number of one price row of that province, verbatim."""
    schedule = dataset_schedule(zone, on=ON)
    rows = [
        row
        for p in load_dataset()["provinces"]
        if p["grid_zone_id"] == zone
        for v in p["versions"]
        for row in v.get("prices_cny_per_kwh") or []
    ]
    for period, price in schedule.prices.items():
        key = next(k for k, v in PERIODS.items() if v == period)
        assert any(row.get(key) == price for row in rows), (zone, period, price)


def test_shanghai_july_critical_peak_and_its_price() -> None:
    """Shanghai, 15 July 12:30 local: critical peak at the official July 2025 10 kV price."""
    schedule = dataset_schedule("CN-SH", on=date(2026, 7, 15))
    when = _cst(2026, 7, 15, 12, 30)
    assert period_at(schedule, when) == "CriticalPeak"
    assert schedule.prices["CriticalPeak"] == 1.4352
    assert period_at(schedule, _cst(2026, 7, 15, 23, 0)) == "Valley"
    assert period_at(schedule, _cst(2026, 3, 2, 9, 0)) == "Peak"


def test_periods_without_a_sourced_price_get_none() -> None:
    """Guangdong's critical peak has no sourced price and Gansu has none at all: no price signal."""
    guangdong = dataset_schedule("CN-GD", on=ON)
    assert "CriticalPeak" not in guangdong.prices
    assert guangdong.prices["Peak"] == 1.150
    gansu = dataset_schedule("CN-GS", on=ON)
    assert gansu.prices == {}
    signals = tou_signals(gansu, zone="gansu", now=_cst(2026, 7, 15, 12), horizon=timedelta(days=1))
    assert signals
    assert {s.kind for s in signals} == {"peak_level"}


def test_versions_follow_their_effective_dates() -> None:
    """Zhejiang switches to its 2026 notice on 1 July 2026."""
    before = dataset_schedule("CN-ZJ", on=date(2026, 6, 30))
    after = dataset_schedule("CN-ZJ", on=date(2026, 7, 1))
    assert "CN-ZJ-2024" in before.source
    assert "CN-ZJ-2026" in after.source
    with pytest.raises(ConfigError):
        dataset_schedule("CN-XX", on=ON)


def test_spec_tariff_schedule_matches_the_sample() -> None:
    """A GridZone tariff gives the same period and its own prices."""
    tariff = TouTariff.model_validate(
        {
            "source": "test",
            "priceMonth": "2025-07",
            "pricesPerKWh": {"peak": 1.0, "flat": 0.5, "valley": 0.2},
            "seasons": [
                {
                    "name": "all",
                    "months": list(range(1, 13)),
                    "windows": [
                        {"start": "00:00", "end": "08:00", "period": "Valley"},
                        {"start": "08:00", "end": "18:00", "period": "Peak"},
                        {"start": "18:00", "end": "24:00", "period": "Flat"},
                    ],
                }
            ],
        }
    )
    schedule = Schedule.from_tariff(tariff, timezone="Asia/Shanghai", currency="CNY")
    assert period_at(schedule, _cst(2026, 7, 15, 9)) == "Peak"
    assert schedule.prices == {"Peak": 1.0, "Flat": 0.5, "Valley": 0.2}


def test_gaps_in_windows_are_refused() -> None:
    """Windows that leave part of the day uncovered are a ConfigError."""
    with pytest.raises(ConfigError):
        Schedule(
            seasons=(Season(frozenset({1}), (Window(0, 600, "Flat"),)),), timezone="Asia/Shanghai"
        )


def test_signals_cover_the_day_with_prices_and_levels() -> None:
    """TOU signals start at the current window, carry the lowest priority and ids stable per tariff."""
    schedule = dataset_schedule("CN-SH", on=date(2026, 7, 15))
    now = _cst(2026, 7, 15, 12, 30)
    signals = tou_signals(schedule, zone="shanghai", now=now, horizon=timedelta(days=1))
    first = signals[0]
    assert first.start == _cst(2026, 7, 15, 12)
    assert first.covers(now)
    assert {s.priority for s in signals} == {1000}
    levels = [s for s in signals if s.kind == "peak_level"]
    prices = [s for s in signals if s.kind == "price"]
    assert len(levels) == len(prices)
    assert tou_signals(schedule, zone="shanghai", now=now, horizon=timedelta(days=1)) == signals
    peak = next_peak(schedule, now, horizon=timedelta(days=1))
    assert peak is not None
    assert peak.start == _cst(2026, 7, 15, 14)


@given(
    zone=st.sampled_from(ZONES),
    moment=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31)),
)
def test_lookup_agrees_with_the_expanded_windows(zone: str, moment: datetime) -> None:
    """The period at any moment is the period of the expanded window containing it."""
    schedule = dataset_schedule(zone, on=ON)
    when = moment.replace(tzinfo=UTC, microsecond=0)  # a 1 s window never straddles a boundary
    (span,) = list(spans(schedule, when, when + timedelta(seconds=1)))
    assert span.period == period_at(schedule, when)
    assert PEAK_LEVEL[span.period] in (0, 1, 2, 3)


def test_packaged_yaml_is_valid_yaml_of_schema_1() -> None:
    """The package data parses and declares schema version 1 and its timezone."""
    from importlib import resources

    text = resources.files("orchestrator.signals").joinpath("data", "tou-tariffs.yaml").read_text()
    data = yaml.safe_load(text)
    assert data["schema_version"] == 1
    assert data["timezone"] == "Asia/Shanghai"

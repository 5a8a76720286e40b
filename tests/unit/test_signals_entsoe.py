"""ENTSO-E day-ahead A44 documents: 15-minute prices, forward-fill, refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.errors import SignalError
from orchestrator.signals.entsoe import entsoe_signals, parse_a44

AREA = "10YNL----------L"
START = datetime(2026, 7, 14, 22, 0, tzinfo=UTC)


def document(
    points: dict[int, float],
    *,
    curve: str = "A03",
    resolution: str = "PT15M",
    hours: int = 24,
    area: str = AREA,
    unit: str = "MWH",
) -> bytes:
    """An A44 document in the documented shape (namespace, domains, one period)."""
    end = START + timedelta(hours=hours)
    fmt = "%Y-%m-%dT%H:%MZ"
    body = "".join(
        f"<Point><position>{p}</position><price.amount>{v}</price.amount></Point>"
        for p, v in sorted(points.items())
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Publication_MarketDocument xmlns="urn:iec62325.351:tc57wg16:451-3:publicationdocument:7:3">
 <mRID>doc-1</mRID><type>A44</type><createdDateTime>2026-07-14T11:00:00Z</createdDateTime>
 <period.timeInterval><start>{START:{fmt}}</start><end>{end:{fmt}}</end></period.timeInterval>
 <TimeSeries><mRID>1</mRID><businessType>A62</businessType>
  <in_Domain.mRID codingScheme="A01">{area}</in_Domain.mRID>
  <out_Domain.mRID codingScheme="A01">{area}</out_Domain.mRID>
  <currency_Unit.name>EUR</currency_Unit.name><price_Measure_Unit.name>{unit}</price_Measure_Unit.name>
  <curveType>{curve}</curveType>
  <Period><timeInterval><start>{START:{fmt}}</start><end>{end:{fmt}}</end></timeInterval>
   <resolution>{resolution}</resolution>{body}</Period>
 </TimeSeries>
</Publication_MarketDocument>""".encode()


def test_a03_forward_fills_omitted_positions() -> None:
    """Positions 2-3 omitted in an A03 curve repeat position 1; 96 quarter hours in a day."""
    points = parse_a44(document({1: 84.12, 4: 80.03, 96: 70.0}), area=AREA)
    assert len(points) == 96
    assert [p.value for p in points[:5]] == pytest.approx(
        [0.08412, 0.08412, 0.08412, 0.08003, 0.08003]
    )
    assert points[0].start == START
    assert points[0].end == START + timedelta(minutes=15)
    assert points[-1].value == pytest.approx(0.07)
    assert {p.currency for p in points} == {"EUR"}


def test_a01_missing_positions_stay_missing() -> None:
    """A fixed (A01) curve does not invent the prices it leaves out."""
    points = parse_a44(document({1: 50.0, 3: 60.0}, curve="A01", resolution="PT60M"), area=AREA)
    assert [(p.start - START) // timedelta(hours=1) for p in points] == [0, 2]


def test_other_areas_are_skipped() -> None:
    """A document for another bidding zone yields nothing for ours."""
    assert parse_a44(document({1: 50.0}, area="10YBE----------2"), area=AREA) == []


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"<not xml", "not XML"),
        (
            b"<Acknowledgement_MarketDocument><Reason><code>999</code><text>No matching data found</text>"
            b"</Reason></Acknowledgement_MarketDocument>",
            "No matching data",
        ),
        (
            b"<Publication_MarketDocument><type>A65</type></Publication_MarketDocument>",
            "not an A44",
        ),
        (document({1: 50.0}, unit="GJ"), "unit"),
        (document({97: 50.0}), "outside its period"),
        (document({1: 50.0}).replace(b"<price.amount>50.0", b"<price.amount>fifty"), "not numeric"),
    ],
)
def test_bad_documents_raise_instead_of_guessing(body: bytes, match: str) -> None:
    """Malformed, acknowledgement, wrong type, unit or positions: SignalError, never a price."""
    with pytest.raises(SignalError, match=match):
        parse_a44(body, area=AREA)


def test_signals_are_per_kwh_and_keyed_by_interval() -> None:
    """Signals carry EUR/kWh, one event per interval, the document's revision in the id."""
    signals = entsoe_signals(parse_a44(document({1: 84.12}), area=AREA), zone="nl", revision="r1")
    assert len(signals) == 96
    assert signals[0].unit == "EUR/kWh"
    assert len({s.event for s in signals}) == 96
    assert "r1" in signals[0].external_id


@given(
    prices=st.dictionaries(st.integers(1, 96), st.floats(-500, 3000, allow_nan=False), min_size=1)
)
def test_forward_fill_invariant(prices: dict[int, float]) -> None:
    """Every position from the first given one is priced by the latest given position at or before it."""
    points = parse_a44(document(prices), area=AREA)
    first = min(prices)
    assert len(points) == 96 - first + 1
    for point in points:
        position = int((point.start - START) / timedelta(minutes=15)) + 1
        source = max(p for p in prices if p <= position)
        assert point.value == pytest.approx(prices[source] / 1000)

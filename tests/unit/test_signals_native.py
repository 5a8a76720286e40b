"""The native webhook schema: entries to normalized signals, refusals naming the field."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from orchestrator.signals.native import SignalBatch, to_signal

START, END = "2026-07-15T04:00:00Z", "2026-07-15T05:00:00+00:00"


def one(entry: dict[str, Any]) -> Any:
    """The signal of a one-entry batch for zone shanghai."""
    batch = SignalBatch.model_validate({"signals": [{"zone": "CN-SH", "start": START, **entry}]})
    return to_signal(batch.signals[0], source="native:op", zone="shanghai")


def test_price_per_mwh_becomes_per_kwh() -> None:
    """A price of 420 CNY/MWh is 0.42 CNY/kWh for the resolved zone."""
    signal = one(
        {"type": "price", "id": "p1", "end": END, "value": 42, "currency": "CNY", "unit": "MWh"}
    )
    assert (signal.kind, signal.value, signal.unit, signal.zone) == (
        "price",
        0.042,
        "CNY/kWh",
        "shanghai",
    )
    assert signal.source == "native:op"
    assert signal.external_id == "p1"


def test_peak_level_carbon_and_green_ratio() -> None:
    """Peak level, carbon intensity and green ratio keep their values and units."""
    assert one({"type": "peakLevel", "id": "l", "level": 2}).value == 2.0
    assert one({"type": "carbonIntensity", "id": "c", "value": 550}).unit == "g/kWh"
    assert one({"type": "greenPowerRatio", "id": "g", "value": 0.8}).kind == "green_ratio"


def test_dr_order_and_its_cancellation() -> None:
    """A shed order carries its kW, deadline and event id; a cancel names the event."""
    order = one(
        {"type": "drOrder", "id": "o1", "end": END, "shedKW": 500, "responseDeadlineSeconds": 120}
    ).order
    assert (order.kind, order.kw, order.deadline_seconds, order.event_id) == (
        "shed",
        500,
        120,
        "o1",
    )
    cancel = one({"type": "drOrder", "id": "o1-cancel", "eventID": "o1", "cancel": True})
    assert cancel.order.cancelled
    assert cancel.event == "o1"
    assert cancel.extra == {"cancelled": True}


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"type": "price", "id": "p", "value": 1, "currency": "GBP"}, "currency"),
        ({"type": "price", "id": "p", "value": 1000, "currency": "CNY"}, "value"),
        ({"type": "peakLevel", "id": "l", "level": 4}, "level"),
        (
            {"type": "peakLevel", "id": "l", "level": 1, "end": "2026-07-15T03:00:00Z"},
            "end must be after",
        ),
        ({"type": "drOrder", "id": "o", "shedKW": 5, "importCapKW": 5}, "exactly one"),
        ({"type": "drOrder", "id": "o"}, "exactly one"),
        ({"type": "weather", "id": "w"}, "type"),
        ({"type": "peakLevel", "id": "has space", "level": 1}, "id"),
        ({"type": "peakLevel", "id": "l", "level": 1, "start": "2026-07-15T04:00:00"}, "start"),
    ],
)
def test_invalid_entries_name_the_field(entry: dict[str, Any], field: str) -> None:
    """Unknown currency or type, out-of-range values, bad ids or naive times are refused."""
    with pytest.raises(ValidationError, match=field):
        SignalBatch.model_validate({"signals": [{"zone": "z", "start": START, **entry}]})


def test_batches_are_bounded() -> None:
    """An empty batch and one over 500 entries are refused."""
    entry = {"type": "peakLevel", "id": "l", "zone": "z", "start": START, "level": 1}
    with pytest.raises(ValidationError):
        SignalBatch.model_validate({"signals": []})
    with pytest.raises(ValidationError):
        SignalBatch.model_validate({"signals": [entry] * 501})

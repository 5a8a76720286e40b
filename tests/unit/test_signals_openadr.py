"""OpenADR 3 payloads to normalized signals: the research note's examples, timing rules, quirks."""

from __future__ import annotations

import copy
import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.errors import SignalError
from orchestrator.signals.model import StoredSignal
from orchestrator.signals.openadr import (
    coerce_keys,
    normalize_operation,
    parse_event,
    parse_notification,
)
from orchestrator.signals.openadr_map import event_signals, expand, is_cancellation
from orchestrator.signals.zonestate import effective

NOW = datetime(2026, 7, 15, 4, 10, tzinfo=UTC)
HORIZON = NOW + timedelta(days=2)

# [constructed] gridshift fixture (1) of the research note, validated there against 3.1.0.
PEAK_SHAVING: dict[str, Any] = json.loads("""
{"objectType":"EVENT","operation":"CREATE","object":{"id":"evt-20260715-sh-peak-01","createdDateTime":"2026-07-14T09:30:02Z","modificationDateTime":"2026-07-14T09:30:02Z","objectType":"EVENT","programID":"sh-dc-peak-shaving","eventName":"Shanghai peak shaving 2026-07-15 12:00-13:00 CST","priority":0,"targets":["cluster-sh-lingang-01"],
 "payloadDescriptors":[{"objectType":"EVENT_PAYLOAD_DESCRIPTOR","payloadType":"IMPORT_CAPACITY_LIMIT","units":"KW"},{"objectType":"EVENT_PAYLOAD_DESCRIPTOR","payloadType":"PRICE","units":"KWH","currency":"CNY"}],
 "reportDescriptors":[{"payloadType":"DEMAND","readingType":"MEAN","units":"KW","startInterval":-1,"numIntervals":-1,"historical":true,"frequency":-1,"repeat":1}],
 "intervalPeriod":{"start":"2026-07-15T04:00:00Z","duration":"PT15M","randomizeStart":"PT0S"},
 "intervals":[{"id":0,"payloads":[{"type":"IMPORT_CAPACITY_LIMIT","values":[6000.0]},{"type":"PRICE","values":[1.32]}]},
              {"id":1,"payloads":[{"type":"IMPORT_CAPACITY_LIMIT","values":[5000.0]},{"type":"PRICE","values":[1.58]}]},
              {"id":2,"payloads":[{"type":"IMPORT_CAPACITY_LIMIT","values":[5000.0]},{"type":"PRICE","values":[1.58]}]},
              {"id":3,"payloads":[{"type":"IMPORT_CAPACITY_LIMIT","values":[6000.0]},{"type":"PRICE","values":[1.32]}]}]},
 "targets":["cluster-sh-lingang-01"]}
""")
# [constructed] fixture (2): a minute-level "do it now" UPDATE, SIMPLE level 2 for 30 minutes.
FAST_SHED: dict[str, Any] = json.loads("""
{"objectType":"EVENT","operation":"UPDATE","object":{"id":"evt-dr-0042","createdDateTime":"2026-07-15T05:55:10Z","modificationDateTime":"2026-07-15T05:57:41Z","objectType":"EVENT","programID":"grid-dr-fast","eventName":"minute-level load shed","priority":0,"targets":["cluster-sh-lingang-01"],
 "payloadDescriptors":[{"objectType":"EVENT_PAYLOAD_DESCRIPTOR","payloadType":"SIMPLE"}],
 "intervalPeriod":{"start":"0001-01-01T00:00:00Z","duration":"PT30M"},"intervals":[{"id":0,"payloads":[{"type":"SIMPLE","values":[2]}]}]}}
""")
# [verbatim] Definition Fig. 6: a 3.0.x notification (HTTP verb) about a PROGRAM.
PROGRAM_POST: dict[str, Any] = json.loads("""
{"objectType":"PROGRAM","operation":"POST","object":{"bindingEvents":false,"createdDateTime":"2023-06-15T15:51:29.000Z","id":"0","localPrice":false,"objectType":"PROGRAM","programName":"myProgram"}}
""")
# [verbatim] User Guide examples 8.9.3-1 (fast DR) and 7.3-1 (multi-valued price).
FAST_DR = json.loads(
    """{"eventName":"fast_dr_Event","programID":"44","intervalPeriod":{"start":"2023-02-10T00:00:00.000Z","duration":"P9999Y"},"payloadDescriptors":[{"payloadType":"DISPATCH_SETPOINT","units":"KW"}],"intervals":[{"id":0,"payloads":[{"type":"DISPATCH_SETPOINT","values":[0.50]}]}]}"""
)
MULTI_PRICE = json.loads(
    """{"eventName":"multiPriceEvent","programID":"44","payloadDescriptors":[{"payloadType":"PRICE","units":"KWH","currency":"USD"}],"intervals":[{"id":0,"intervalPeriod":{"start":"2025-06-25T00:00:00.000Z","duration":"PT3H"},"payloads":[{"type":"PRICE","values":[0.17,0.03,0.11]}]}]}"""
)
SIMPLE_EVENT = json.loads(
    """{"eventName":"simpleEvent","programID":"44","intervalPeriod":{"start":"2025-03-14T00:00:00.000Z","duration":"PT4H"},"payloadDescriptors":[{"payloadType":"SIMPLE"}],"intervals":[{"id":0,"payloads":[{"type":"SIMPLE","values":[1]}]}]}"""
)
ALERT_EVENT = json.loads(
    """{"eventName":"alertEvent","programID":"44","intervalPeriod":{"start":"2025-03-14T00:00:00.000Z","duration":"PT4H"},"intervals":[{"id":0,"payloads":[{"type":"ALERT_GRID_EMERGENCY","values":["The grid is currently under emergency conditions"]}]}]}"""
)


def _snake(value: Any) -> Any:
    """The reference VTN's spelling: camelCase keys as snake_case, ID suffixes as _id."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            snake = key.replace("ID", "_id")
            snake = "".join("_" + c.lower() if c.isupper() else c for c in snake).lstrip("_")
            out[snake] = _snake(item)
        return out
    if isinstance(value, list):
        return [_snake(v) for v in value]
    return value


def _signals(document: dict[str, Any], zones: list[str] | None = None) -> list[Any]:
    notification = parse_notification(document)
    return event_signals(
        parse_event(notification.object),
        operation=normalize_operation(notification.operation),
        source="openadr:vtn",
        zones=zones or ["shanghai"],
        now=NOW,
        horizon=HORIZON,
    )


def _event(document: dict[str, Any], operation: str = "CREATE") -> list[Any]:
    return event_signals(
        parse_event(document),
        operation=normalize_operation(operation),
        source="openadr:vtn",
        zones=["z"],
        now=NOW,
        horizon=HORIZON,
    )


def test_peak_shaving_gives_four_prices_and_one_import_cap_order() -> None:
    """The 3.1.0 peak-shaving event: four 15-minute prices in CNY/kWh, one order at the lowest cap."""
    signals = _signals(PEAK_SHAVING)
    prices = [s for s in signals if s.kind == "price"]
    assert [(s.start.minute, s.value, s.unit) for s in prices] == [
        (0, 1.32, "CNY/kWh"),
        (15, 1.58, "CNY/kWh"),
        (30, 1.58, "CNY/kWh"),
        (45, 1.32, "CNY/kWh"),
    ]
    orders = {s.order for s in signals if s.kind == "dr_event"}
    assert len(orders) == 1
    order = orders.pop()
    assert order is not None
    assert (order.kind, order.kw, order.priority) == ("import_cap", 5000.0, 0)
    assert order.window_start == datetime(2026, 7, 15, 4, 0, tzinfo=UTC)
    assert order.window_end == datetime(2026, 7, 15, 5, 0, tzinfo=UTC)


def test_snake_case_notification_means_the_same() -> None:
    """A snake_case notification (the reference VTN's quirk) yields exactly the camelCase signals."""
    assert _snake(PEAK_SHAVING)["object"]["program_id"] == "sh-dc-peak-shaving"
    assert _signals(_snake(PEAK_SHAVING)) == _signals(PEAK_SHAVING)
    assert _signals(_snake(FAST_SHED)) == _signals(FAST_SHED)


def test_http_verbs_map_to_crud() -> None:
    """3.0.x verbs POST, PUT, GET, DELETE are CREATE, UPDATE, READ, DELETE; others are refused."""
    assert [normalize_operation(v) for v in ("POST", "put", "GET", "DELETE", "UPDATE")] == [
        "CREATE",
        "UPDATE",
        "READ",
        "DELETE",
        "UPDATE",
    ]
    with pytest.raises(SignalError):
        normalize_operation("PATCH")


def test_program_notification_parses_and_is_not_an_event() -> None:
    """The verbatim 3.0.x PROGRAM notification parses; its object type is PROGRAM, op CREATE."""
    notification = parse_notification(PROGRAM_POST)
    assert notification.object_type == "PROGRAM"
    assert normalize_operation(notification.operation) == "CREATE"


def test_do_it_now_start_is_anchored_at_the_modification_time() -> None:
    """Start 0001-01-01 means now: anchored at modificationDateTime, so a retry maps identically."""
    (signal,) = _signals(FAST_SHED)
    assert signal.kind == "peak_level"
    assert signal.value == 2.0
    assert signal.start == datetime(2026, 7, 15, 5, 57, 41, tzinfo=UTC)
    assert signal.end == signal.start + timedelta(minutes=30)
    assert _signals(copy.deepcopy(FAST_SHED)) == [signal]


def test_a_now_event_without_times_is_refused_not_anchored_at_our_clock() -> None:
    """Without creation or modification times a 0001-01-01 start has no fixed meaning: anchoring
    it at our clock would make each retry new rows, so it is refused, naming what to send."""
    event = copy.deepcopy(FAST_SHED["object"])
    del event["createdDateTime"], event["modificationDateTime"]
    with pytest.raises(SignalError, match="modificationDateTime or createdDateTime"):
        _event(event)


def _at(document: dict[str, Any], now: datetime, operation: str = "DELETE") -> list[Any]:
    return event_signals(
        parse_event(document),
        operation=normalize_operation(operation),
        source="openadr:vtn",
        zones=["z"],
        now=now,
        horizon=now + timedelta(days=2),
    )


def test_a_delete_without_interval_period_maps_the_same_on_every_retry() -> None:
    """A DELETE whose event has no intervalPeriod is placed at its first interval's start, else
    its modification time: retried an hour later, it is the same row, never a new one."""
    later = NOW + timedelta(hours=1)
    with_interval = copy.deepcopy(PEAK_SHAVING["object"])
    period = with_interval.pop("intervalPeriod")
    with_interval["intervals"][0]["intervalPeriod"] = period
    first, again = _at(with_interval, NOW), _at(with_interval, later)
    assert first == again
    assert first[0].start == datetime(2026, 7, 15, 4, 0, tzinfo=UTC)
    bare = copy.deepcopy(FAST_SHED["object"])
    del bare["intervalPeriod"]
    assert _at(bare, NOW) == _at(bare, later)
    assert _at(bare, NOW)[0].start == datetime(2026, 7, 15, 5, 57, 41, tzinfo=UTC)


def test_a_delete_with_no_time_at_all_is_refused() -> None:
    """A DELETE of an event with no start and no times cannot be placed: refused with a reason."""
    bare = copy.deepcopy(FAST_SHED["object"])
    del bare["intervalPeriod"], bare["createdDateTime"], bare["modificationDateTime"]
    with pytest.raises(SignalError, match="cancelling an event without a start"):
        _at(bare, NOW)


def test_p9999y_is_open_ended_and_setpoint_is_an_import_cap() -> None:
    """P9999Y leaves the interval open; DISPATCH_SETPOINT 0.5 KW becomes a 0.5 kW import cap."""
    (signal,) = _event(FAST_DR)
    assert signal.end is None
    assert signal.kind == "dr_event"
    assert signal.order is not None
    assert (signal.order.kind, signal.order.kw, signal.order.window_end) == (
        "import_cap",
        0.5,
        None,
    )


def test_multi_valued_price_splits_its_interval() -> None:
    """Three prices over PT3H are three one-hour prices, in order."""
    signals = _event(MULTI_PRICE)
    assert [(s.start.hour, s.end.hour if s.end else None, s.value) for s in signals] == [
        (0, 1, 0.17),
        (1, 2, 0.03),
        (2, 3, 0.11),
    ]
    assert {s.unit for s in signals} == {"USD/kWh"}


def test_simple_and_alert_events_are_peak_levels() -> None:
    """SIMPLE 1 is peak level 1; ALERT_GRID_EMERGENCY is peak level 3 with the alert text kept."""
    (simple,) = _event(SIMPLE_EVENT)
    (alert,) = _event(ALERT_EVENT)
    assert (simple.kind, simple.value) == ("peak_level", 1.0)
    assert (alert.kind, alert.value) == ("peak_level", 3.0)
    assert "emergency" in str(alert.extra["alert"])


def test_missing_priority_is_the_lowest() -> None:
    """An event without priority ranks below every prioritized one (1000)."""
    assert {s.priority for s in _event(SIMPLE_EVENT)} == {1000}
    assert {s.priority for s in _signals(FAST_SHED)} == {0}


def test_delete_cancels_and_drops_the_event() -> None:
    """DELETE yields one cancel marker per zone; with it the event's signals stop counting."""
    deleted = {**PEAK_SHAVING, "operation": "DELETE"}
    markers = _signals(deleted, zones=["shanghai", "hubei"])
    assert [(m.zone, m.kind) for m in markers] == [("shanghai", "dr_event"), ("hubei", "dr_event")]
    assert all(m.order is not None and m.order.cancelled for m in markers)
    rows = [
        StoredSignal(i, s, NOW, None)
        for i, s in enumerate([*_signals(PEAK_SHAVING), markers[0]], start=1)
    ]
    assert effective(rows) == []


def test_zero_duration_now_event_is_a_cancellation() -> None:
    """Start 0001-01-01 with duration PT0S is the VTN cancelling the event (7.9)."""
    event = copy.deepcopy(FAST_SHED["object"])
    event["intervalPeriod"] = {"start": "0001-01-01", "duration": "PT0S"}
    assert is_cancellation(parse_event(event))
    (marker,) = _event(event, "UPDATE")
    assert marker.order is not None
    assert marker.order.cancelled


def test_read_operation_records_nothing() -> None:
    """A READ notification carries no instruction."""
    assert _event(SIMPLE_EVENT, "GET") == []


def test_event_duration_repeats_a_day_of_prices() -> None:
    """24 hourly prices with event duration P2D repeat once: 48 hours of prices."""
    event = {
        "programID": "p",
        "id": "loop",
        "duration": "P2D",
        "intervalPeriod": {"start": "2026-07-15T00:00:00Z", "duration": "PT1H"},
        "payloadDescriptors": [{"payloadType": "PRICE", "units": "KWH", "currency": "CNY"}],
        "intervals": [
            {"id": h, "payloads": [{"type": "PRICE", "values": [h / 10]}]} for h in range(24)
        ],
    }
    signals = _event(event)
    assert len(signals) == 48
    assert signals[24].start == datetime(2026, 7, 16, 0, 0, tzinfo=UTC)
    assert signals[24].value == 0.0
    assert len({(s.external_id, s.start) for s in signals}) == 48


def test_event_duration_truncates_intervals() -> None:
    """Event duration PT90M keeps one and a half of four hourly intervals."""
    event = {
        "programID": "p",
        "id": "cut",
        "duration": "PT90M",
        "intervalPeriod": {"start": "2026-07-15T00:00:00Z", "duration": "PT1H"},
        "intervals": [{"id": h, "payloads": [{"type": "SIMPLE", "values": [1]}]} for h in range(4)],
    }
    signals = _event(event)
    assert [(s.start.hour, s.end.minute if s.end else None) for s in signals] == [(0, 0), (1, 30)]


def test_3_0_1_valuesmap_targets_flatten() -> None:
    """3.0.1 targets given as valuesMaps read as plain target names."""
    event = parse_event(
        {**SIMPLE_EVENT, "targets": [{"type": "GROUP", "values": ["CN-SH", "lingang"]}]}
    )
    assert event.target_names() == ["CN-SH", "lingang"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"intervals": [{"id": 0, "payloads": [{"type": "SIMPLE", "values": [7]}]}]}, "values"),
        ({"intervals": [{"id": 0, "payloads": [{"type": "PRICE", "values": ["x"]}]}]}, "values"),
        ({"intervalPeriod": {"start": "yesterday", "duration": "PT1H"}}, "yesterday"),
        ({"intervalPeriod": {"start": "2026-07-15T00:00:00Z", "duration": "1 hour"}}, "duration"),
        ({"programID": None}, "programID"),
    ],
)
def test_invalid_events_name_the_problem(change: dict[str, Any], field: str) -> None:
    """Bad levels, non-numeric prices, bad times or durations and missing ids are refused by name."""
    with pytest.raises(SignalError, match=field):
        _event({**SIMPLE_EVENT, **change})


def test_import_cap_of_zero_is_refused() -> None:
    """An import cap of 0 kW cannot be recorded as a positive target, so it is refused."""
    event = {
        **FAST_DR,
        "intervals": [{"id": 0, "payloads": [{"type": "DISPATCH_SETPOINT", "values": [0]}]}],
    }
    with pytest.raises(SignalError, match="above 0 kW"):
        _event(event)


def test_coerce_keys_leaves_values_alone() -> None:
    """Only keys change case; values such as targets keep their underscores."""
    assert coerce_keys({"program_id": "a_b", "values": ["x_y"]}) == {
        "programID": "a_b",
        "values": ["x_y"],
    }


@given(
    values=st.lists(
        st.floats(min_value=-10, max_value=10, allow_nan=False), min_size=1, max_size=48
    ),
    minutes=st.integers(min_value=1, max_value=24 * 60),
)
def test_sub_intervals_tile_their_interval(values: list[float], minutes: int) -> None:
    """Sub-intervals of a multi-valued price are contiguous, equal and cover the interval exactly."""
    start = datetime(2026, 7, 15, tzinfo=UTC)
    event = parse_event(
        {
            "programID": "p",
            "intervals": [
                {
                    "id": 0,
                    "intervalPeriod": {"start": start.isoformat(), "duration": f"PT{minutes}M"},
                    "payloads": [{"type": "PRICE", "values": values}],
                }
            ],
        }
    )
    slots = expand(event, now=NOW, horizon=HORIZON)["PRICE"]
    assert slots[0].start == start
    assert slots[-1].end is not None
    assert abs((slots[-1].end - (start + timedelta(minutes=minutes))).total_seconds()) < 1e-3
    for before, after in itertools.pairwise(slots):
        assert before.end == after.start
    assert [s.value for s in slots] == values

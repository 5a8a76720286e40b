"""The OpenADR 3 REPORT of a DR outcome: payloads, units, descriptors, both versions; event reads."""

from __future__ import annotations

import asyncio
import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.errors import SignalError
from orchestrator.signals.openadr_client import VtnClient
from orchestrator.signals.openadr_report import (
    DrOutcome,
    ReportDescriptor,
    build_report,
    iso_duration,
    outcome_state,
    report_descriptors,
)

pytestmark = pytest.mark.unit

START = datetime(2026, 7, 15, 4, 0, tzinfo=UTC)
OUTCOME = DrOutcome(
    zone="shanghai",
    event_id="evt-dr-0042",
    program_id="prog-7",
    state="Met",
    achieved_kw=520.0,
    zone_load_kw=1480.0,
    window_start=START,
    window_end=START + timedelta(minutes=30),
)


def payloads(report: dict[str, Any]) -> dict[str, float]:
    """The single interval's payload values by type."""
    (resource,) = report["resources"]
    (interval,) = resource["intervals"]
    assert interval["id"] == 0
    found = {}
    for payload in interval["payloads"]:
        (value,) = payload["values"]
        found[payload["type"]] = value
    return found


def descriptors(report: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """(readingType, units) of each payload descriptor, by payload type."""
    found = {}
    for d in report["payloadDescriptors"]:
        assert d["objectType"] == "REPORT_PAYLOAD_DESCRIPTOR"
        found[d["payloadType"]] = (d["readingType"], d["units"])
    return found


# Without descriptors: both payload types in kW


def test_default_report_sends_usage_and_delta_usage_in_kw() -> None:
    """No descriptors: USAGE is the load still drawn, DELTA_USAGE the shed as a negative, kW."""
    report = build_report(OUTCOME, client_name="gridshift")
    assert payloads(report) == {"USAGE": 1480.0, "DELTA_USAGE": -520.0}
    assert descriptors(report) == {
        "USAGE": ("ESTIMATED", "KW"),
        "DELTA_USAGE": ("ESTIMATED", "KW"),
    }
    assert report["eventID"] == "evt-dr-0042"
    assert report["clientName"] == "gridshift"
    assert "Met" in report["reportName"]
    (resource,) = report["resources"]
    assert resource["resourceName"] == "shanghai"
    assert resource["intervalPeriod"] == {"start": "2026-07-15T04:00:00Z", "duration": "PT30M"}
    json.dumps(report)  # plain JSON, ready to post


def test_missed_outcome_is_named_and_still_reports_what_was_shed() -> None:
    """A Missed event reports its partial shed; the name says Missed."""
    missed = DrOutcome(**_replace(state="Missed", achieved_kw=310.5))
    report = build_report(missed, client_name="gridshift")
    assert "Missed" in report["reportName"]
    assert payloads(report)["DELTA_USAGE"] == -310.5


def _replace(**changes: Any) -> dict[str, Any]:
    fields = {
        name: getattr(OUTCOME, name)
        for name in (
            "zone",
            "event_id",
            "program_id",
            "state",
            "achieved_kw",
            "zone_load_kw",
            "window_start",
            "window_end",
        )
    }
    return fields | changes


# The two OpenADR versions


def test_version_301_carries_object_type_and_program_id() -> None:
    """3.0.1: objectType REPORT and the required programID."""
    report = build_report(OUTCOME, client_name="gridshift", version="3.0.1")
    assert report["objectType"] == "REPORT"
    assert report["programID"] == "prog-7"


def test_version_301_refuses_a_report_without_program_id() -> None:
    """3.0.1 requires programID: no guessing, a SignalError."""
    outcome = DrOutcome(**_replace(program_id=None))
    with pytest.raises(SignalError, match=r"3\.0\.1 needs the programID"):
        build_report(outcome, client_name="gridshift", version="3.0.1")


def test_version_310_leaves_object_type_to_the_vtn_and_program_id_optional() -> None:
    """3.1.0: no objectType at the top; programID only when known."""
    with_program = build_report(OUTCOME, client_name="gridshift", version="3.1.0")
    assert "objectType" not in with_program
    assert with_program["programID"] == "prog-7"
    without = build_report(DrOutcome(**_replace(program_id=None)), client_name="gridshift")
    assert "programID" not in without
    assert payloads(without) == payloads(with_program)


# The event's report descriptors


def test_usage_in_kwh_is_energy_over_the_window() -> None:
    """USAGE asked in KWH: load x window hours; DELTA_USAGE not asked, not sent."""
    asked = [ReportDescriptor("USAGE", "DIRECT_READ", "KWH")]
    report = build_report(OUTCOME, client_name="gridshift", descriptors=asked)
    assert payloads(report) == {"USAGE": 740.0}  # 1480 kW for half an hour
    assert descriptors(report) == {"USAGE": ("ESTIMATED", "KWH")}


def test_baseline_is_the_load_without_the_response() -> None:
    """BASELINE asked in kW: the load still drawn plus what was shed (1480 + 520 kW)."""
    asked = [ReportDescriptor("BASELINE", "ESTIMATED", "KW"), ReportDescriptor("USAGE")]
    report = build_report(OUTCOME, client_name="gridshift", descriptors=asked)
    assert payloads(report) == {"BASELINE": 2000.0, "USAGE": 1480.0}
    assert descriptors(report)["BASELINE"] == ("ESTIMATED", "KW")


def test_delta_usage_alone_in_watts_keeps_the_reading_type_asked() -> None:
    """DELTA_USAGE in W with readingType SUMMED: -520 kW is -520000 W, SUMMED kept."""
    asked = [ReportDescriptor("DELTA_USAGE", "SUMMED", "W")]
    report = build_report(OUTCOME, client_name="gridshift", descriptors=asked)
    assert payloads(report) == {"DELTA_USAGE": -520000.0}
    assert descriptors(report) == {"DELTA_USAGE": ("SUMMED", "W")}


def test_demand_mean_in_kw_is_the_load_still_drawn() -> None:
    """The research fixture's DEMAND MEAN KW descriptor is answered with the zone's load."""
    event = {
        "reportDescriptors": [
            {
                "payloadType": "DEMAND",
                "readingType": "MEAN",
                "units": "KW",
                "startInterval": -1,
                "numIntervals": -1,
                "historical": True,
                "frequency": -1,
                "repeat": 1,
            }
        ]
    }
    report = build_report(OUTCOME, client_name="gridshift", descriptors=report_descriptors(event))
    assert payloads(report) == {"DEMAND": 1480.0}
    assert descriptors(report) == {"DEMAND": ("MEAN", "KW")}


def test_aggregate_descriptor_names_the_aggregated_resource() -> None:
    """aggregate true: resourceName AGGREGATED_REPORT."""
    asked = [ReportDescriptor("USAGE", units="KW", aggregate=True)]
    report = build_report(OUTCOME, client_name="gridshift", descriptors=asked)
    assert report["resources"][0]["resourceName"] == "AGGREGATED_REPORT"


def test_unanswerable_descriptors_fall_back_to_both_defaults() -> None:
    """Only VOLTS readings and USAGE in THERMS asked: nothing we can measure, defaults sent."""
    asked = [ReportDescriptor("READING", units="VOLTS"), ReportDescriptor("USAGE", units="THERMS")]
    report = build_report(OUTCOME, client_name="gridshift", descriptors=asked)
    assert payloads(report) == {"USAGE": 1480.0, "DELTA_USAGE": -520.0}


def test_mixed_descriptors_keep_only_the_answerable_first_per_type() -> None:
    """Unsupported entries are skipped; a second USAGE descriptor does not add a payload."""
    asked = [
        ReportDescriptor("READING", units="VOLTS"),
        ReportDescriptor("USAGE", units="MW"),
        ReportDescriptor("USAGE", units="KWH"),
    ]
    report = build_report(OUTCOME, client_name="gridshift", descriptors=asked)
    assert payloads(report) == {"USAGE": 1.48}
    assert descriptors(report) == {"USAGE": ("ESTIMATED", "MW")}


def test_descriptors_are_read_from_an_event_document_leniently() -> None:
    """Entries without payloadType are skipped; case is normalized; defaults are false/None."""
    event = {
        "reportDescriptors": [
            {"readingType": "MEAN"},
            "junk",
            {"payloadType": "usage", "units": "kwh", "aggregate": True},
            {"payloadType": "DELTA_USAGE"},
        ]
    }
    assert report_descriptors(event) == [
        ReportDescriptor("USAGE", None, "KWH", aggregate=True),
        ReportDescriptor("DELTA_USAGE"),
    ]
    assert report_descriptors({"reportDescriptors": None}) == []
    assert report_descriptors({}) == []


@given(
    load=st.floats(min_value=0, max_value=1e7, allow_nan=False),
    shed=st.floats(min_value=0, max_value=1e7, allow_nan=False),
    minutes=st.integers(min_value=1, max_value=7 * 24 * 60),
)
def test_values_follow_the_outcome_for_any_figures(load: float, shed: float, minutes: int) -> None:
    """For any load, shed and window: USAGE kWh = load x hours, DELTA_USAGE kW = -shed."""
    outcome = DrOutcome(
        **_replace(
            zone_load_kw=load, achieved_kw=shed, window_end=START + timedelta(minutes=minutes)
        )
    )
    asked = [ReportDescriptor("USAGE", units="KWH"), ReportDescriptor("DELTA_USAGE", units="KW")]
    found = payloads(build_report(outcome, client_name="gridshift", descriptors=asked))
    assert math.isclose(found["USAGE"], load * minutes / 60, rel_tol=1e-9, abs_tol=1e-5)
    assert math.isclose(found["DELTA_USAGE"], -shed, rel_tol=1e-9, abs_tol=1e-5)
    assert found["DELTA_USAGE"] <= 0


# Bad outcomes and helpers


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"achieved_kw": -1.0}, "achieved_kw must be >= 0"),
        ({"zone_load_kw": float("nan")}, "zone_load_kw must be >= 0"),
        ({"window_end": START}, "ends before it starts"),
        ({"event_id": ""}, "event id"),
        (
            {
                "window_start": START.replace(tzinfo=None),
                "window_end": START.replace(tzinfo=None) + timedelta(minutes=5),
            },
            "time zone",
        ),
    ],
)
def test_bad_outcomes_are_signal_errors(changes: dict[str, Any], match: str) -> None:
    """Negative or NaN kW, an empty window, a missing event id or a naive time are refused."""
    with pytest.raises(SignalError, match=match):
        build_report(DrOutcome(**_replace(**changes)), client_name="gridshift")


def test_only_met_and_missed_are_outcomes() -> None:
    """Met and Missed pass; Active or Ended is not an outcome to report."""
    assert outcome_state("Met") == "Met"
    assert outcome_state("Missed") == "Missed"
    for other in ("Active", "Ended", "met"):
        with pytest.raises(SignalError, match="Met or Missed"):
            outcome_state(other)


@pytest.mark.parametrize(
    ("span", "text"),
    [
        (timedelta(0), "PT0S"),
        (timedelta(seconds=45), "PT45S"),
        (timedelta(minutes=30), "PT30M"),
        (timedelta(hours=1, minutes=30, seconds=5), "PT1H30M5S"),
        (timedelta(days=2), "PT48H"),
        (timedelta(seconds=0.4), "PT0S"),
    ],
)
def test_iso_durations(span: timedelta, text: str) -> None:
    """Windows are written as ISO 8601 durations of whole seconds."""
    assert iso_duration(span) == text


# Reading the event back from the VTN


def read_event(answer: httpx.Response) -> tuple[dict[str, Any] | None, list[httpx.Request]]:
    """``event_document("evt/1")`` against a VTN that answers ``answer`` (no credentials)."""
    calls: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return answer

    async def main() -> dict[str, Any] | None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handle)) as http:
            return await VtnClient("http://vtn.test", credentials=None, http=http).event_document(
                "evt/1"
            )

    return asyncio.run(main()), calls


def test_event_document_coerces_snake_case_and_escapes_the_id() -> None:
    """A snake_case event comes back camelCase; the id is one path segment."""
    found, calls = read_event(
        httpx.Response(
            200, json={"program_id": "p-1", "report_descriptors": [{"payload_type": "USAGE"}]}
        )
    )
    assert calls[0].url.raw_path == b"/events/evt%2F1"
    assert found is not None
    assert found["programID"] == "p-1"
    assert report_descriptors(found) == [ReportDescriptor("USAGE")]


@pytest.mark.parametrize("status", [403, 404])
def test_event_document_is_none_when_the_vtn_does_not_serve_it(status: int) -> None:
    """Gone (404) or not readable with our scopes (403): None, the report uses defaults."""
    found, _ = read_event(httpx.Response(status))
    assert found is None


def test_event_document_raises_on_a_vtn_failure() -> None:
    """A 5xx is the VTN failing: SignalError naming the call."""
    with pytest.raises(SignalError, match=r"GET /events/evt%2F1 at VTN http://vtn.test: HTTP 502"):
        read_event(httpx.Response(502))

"""A DR outcome reaches the signals service as the VTN report it needs."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from orchestrator.api.drevent import DemandResponseEventStatus
from orchestrator.controller.dr import vtn_report
from orchestrator.signals.service import SignalService

pytestmark = pytest.mark.unit

START = datetime(2026, 7, 14, 14, 0, tzinfo=UTC)


class Recorder:
    """Stands in for SignalService.report_dr_outcome and keeps what it was given."""

    def __init__(self, answer: bool) -> None:
        self.answer = answer
        self.calls: list[dict[str, Any]] = []

    async def report_dr_outcome(self, **kwargs: Any) -> bool:
        self.calls.append(kwargs)
        return self.answer


def event(event_id: str | None = "evt-7") -> dict[str, Any]:
    source: dict[str, Any] = {"kind": "OpenADR", "program": "prog-1"}
    if event_id:
        source["eventID"] = event_id
    return {
        "metadata": {"name": "shanghai-evt-7"},
        "spec": {
            "zone": "shanghai",
            "window": {"start": START.isoformat()},
            "importCapKW": 144.6,
            "source": source,
        },
    }


def test_the_outcome_and_the_zone_load_are_reported_for_the_event() -> None:
    """Event id, program, state, shed and the load still drawn go to the VTN report."""
    recorder = Recorder(answer=True)
    report = vtn_report(cast(SignalService, recorder))
    status = DemandResponseEventStatus(state="Met", achieved_kw=517.2)
    asyncio.run(report(event(), status, 127.4))
    assert recorder.calls == [
        {
            "zone": "shanghai",
            "event_id": "evt-7",
            "program": "prog-1",
            "state": "Met",
            "achieved_kw": 517.2,
            "zone_load_kw": 127.4,
            "window_start": START,
            "window_end": None,
        }
    ]


def test_an_event_without_an_id_is_not_reported() -> None:
    """The VTN cannot match a report without the event's id: nothing is sent."""
    recorder = Recorder(answer=False)
    asyncio.run(
        vtn_report(cast(SignalService, recorder))(
            event(None), DemandResponseEventStatus(state="Missed"), 0.0
        )
    )
    assert recorder.calls == []

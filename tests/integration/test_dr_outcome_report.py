"""A DemandResponseEvent's outcome is reported to the VTN once, across retries and leaders.

Against the fleet's hub (cluster "shanghai", the CRDs applied server-side): the event object is
real, its status is written by the real API server. The report itself is a callable handed in,
recording what it is asked to send (the VTN side is tested in test_signals_vtn_report.py).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from operator_process import install_api

from orchestrator.api.common import API_VERSION, GROUP, VERSION
from orchestrator.api.drevent import DemandResponseEventStatus
from orchestrator.clusters.hub import HubClient
from orchestrator.clusters.kube import client_from_file
from orchestrator.controller.dr import REPORT_RETRY, DemandResponses
from orchestrator.controller.snapshot import build, read_hub
from orchestrator.devenv import Fleet
from orchestrator.errors import SignalError
from orchestrator.ledger.handle import Ledger
from orchestrator.signals.openadr_client import VtnRefusedError

pytestmark = pytest.mark.integration

HUB = "shanghai"


class Vtn:
    """What the grid operator was told; fails the first ``failures`` times."""

    def __init__(
        self, event: str, *, failures: int = 0, has_vtn: bool = True, refuse: bool = False
    ) -> None:
        self.event = event
        self.failures = failures
        self.has_vtn = has_vtn
        self.refuse = refuse
        self.calls: list[tuple[str, str, float]] = []

    async def __call__(
        self, obj: dict[str, Any], status: DemandResponseEventStatus, zone_load_kw: float
    ) -> bool:
        self.calls.append((obj["metadata"]["name"], status.state, zone_load_kw))
        if obj["metadata"]["name"] != self.event:
            return False  # another test's event in the shared hub: leave it alone
        if self.refuse:
            raise VtnRefusedError(
                "POST /reports at VTN http://vtn.invalid: HTTP 409 unknown event",
                status=409,
                detail="unknown event",
            )
        if self.failures > 0:
            self.failures -= 1
            raise SignalError("POST /reports at VTN http://vtn.invalid: HTTP 503")
        return self.has_vtn

    def ours(self) -> list[tuple[str, str]]:
        return [(name, state) for name, state, _ in self.calls if name == self.event]


@pytest.fixture
def hub(fleet: Fleet) -> HubClient:
    install_api(fleet)
    return HubClient(client_from_file(fleet.kubeconfig(HUB)))


def _missed_event(hub: HubClient, now: datetime) -> str:
    """An OpenADR order whose response deadline passed with nothing shed: it ends Missed."""
    name = f"shanghai-report-{uuid.uuid4().hex[:8]}"
    body = {
        "apiVersion": API_VERSION,
        "kind": "DemandResponseEvent",
        "metadata": {"name": name},
        "spec": {
            "zone": "shanghai",
            "window": {
                "start": (now - timedelta(minutes=10)).isoformat(),
                "end": (now + timedelta(hours=1)).isoformat(),
            },
            "shedKW": 100,
            "source": {"kind": "OpenADR", "eventID": f"evt-{name}", "program": "prog-1"},
        },
    }
    hub.objects.create_cluster_custom_object(GROUP, VERSION, "demandresponseevents", body)
    return name


def _round(dr: DemandResponses, hub: HubClient, now: datetime, name: str) -> dict[str, Any]:
    """One planning round's DR update at ``now``; the event as the API server has it after."""
    objects = read_hub(hub)
    snapshot = build(objects, now=now, durations={}, level_history={})
    asyncio.run(dr.update(objects, snapshot, now, created=[]))
    found = hub.get("demandresponseevents", name)
    assert found is not None
    return found


def test_a_failed_report_is_retried_and_a_new_leader_does_not_report_again(
    hub: HubClient, ledger_door: Ledger
) -> None:
    """503 first: no reportedAt, no retry within the retry time; then sent once and recorded;
    a new DemandResponses (a new leader) sees reportedAt and sends nothing."""
    now = datetime.now(UTC)
    name = _missed_event(hub, now)
    vtn = Vtn(name, failures=1)
    leader = DemandResponses(hub, ledger_door, report=vtn)
    first = _round(leader, hub, now, name)
    assert first["status"]["state"] == "Missed"
    assert "reportedAt" not in first["status"]
    assert vtn.ours() == [(name, "Missed")]
    _round(leader, hub, now + REPORT_RETRY / 2, name)
    assert len(vtn.ours()) == 1, "retried before the retry time"
    done = _round(leader, hub, now + REPORT_RETRY + timedelta(seconds=1), name)
    assert len(vtn.ours()) == 2
    assert done["status"]["reportedAt"]
    assert done["status"]["state"] == "Missed"
    _round(DemandResponses(hub, ledger_door, report=vtn), hub, now + 3 * REPORT_RETRY, name)
    assert len(vtn.ours()) == 2, "a new leader reported the same outcome again"
    hub.objects.delete_cluster_custom_object(GROUP, VERSION, "demandresponseevents", name)


def test_a_zone_without_a_vtn_is_asked_once(hub: HubClient, ledger_door: Ledger) -> None:
    """No VTN for the zone: nothing to retry, nothing recorded."""
    now = datetime.now(UTC)
    name = _missed_event(hub, now)
    vtn = Vtn(name, has_vtn=False)
    leader = DemandResponses(hub, ledger_door, report=vtn)
    for step in range(3):
        found = _round(leader, hub, now + step * 2 * REPORT_RETRY, name)
    assert len(vtn.ours()) == 1
    assert "reportedAt" not in found["status"]
    hub.objects.delete_cluster_custom_object(GROUP, VERSION, "demandresponseevents", name)


def test_the_ledger_follows_the_event_to_its_end(hub: HubClient, ledger_door: Ledger) -> None:
    """An event applied by hand gets a ledger row of its own that goes Missed at the deadline
    (outcome and when), then Ended once the window closes; a point of the shed curve is kept
    per change and per minute, and nothing after the end."""
    now = datetime.now(UTC)
    name = _missed_event(hub, now)
    dr = DemandResponses(hub, ledger_door)
    _round(dr, hub, now, name)
    _round(dr, hub, now + timedelta(seconds=20), name)  # nothing changed, under a minute
    _round(dr, hub, now + timedelta(seconds=70), name)  # a minute: another point
    story = ledger_door.dr_event_story(name)
    assert story is not None
    event = story.event
    assert (event.source, event.external_id, event.zone) == ("hub", name, "shanghai")
    assert (event.state, event.outcome, event.target_kw) == ("Missed", "Missed", 100)
    assert event.outcome_at == event.deadline
    assert [t.state for t in story.transitions] == ["Missed"]
    assert [s.sampled_at for s in story.samples] == [now, now + timedelta(seconds=70)]
    assert {(s.state, s.shed_kw, s.missing_kw) for s in story.samples} == {("Missed", 0, 100)}
    closed = now + timedelta(hours=1, seconds=1)
    _round(dr, hub, closed, name)
    _round(dr, hub, closed + timedelta(minutes=5), name)
    ended = ledger_door.dr_event_story(name)
    assert ended is not None
    assert (ended.event.state, ended.event.outcome) == ("Ended", "Missed")
    assert [t.state for t in ended.transitions] == ["Missed", "Ended"]
    assert [s.sampled_at for s in ended.samples][-1] == closed
    hub.objects.delete_cluster_custom_object(GROUP, VERSION, "demandresponseevents", name)


def test_a_refused_report_is_recorded_and_never_sent_again(
    hub: HubClient, ledger_door: Ledger
) -> None:
    """The VTN answers 409: one attempt, the event says Reported=False (ReportRefused), the
    ledger says Refused; neither this leader nor the next sends it again."""
    now = datetime.now(UTC)
    name = _missed_event(hub, now)
    vtn = Vtn(name, refuse=True)
    leader = DemandResponses(hub, ledger_door, report=vtn)
    found = _round(leader, hub, now, name)
    for step in range(1, 3):
        found = _round(leader, hub, now + step * 2 * REPORT_RETRY, name)
    _round(DemandResponses(hub, ledger_door, report=vtn), hub, now + 7 * REPORT_RETRY, name)
    assert vtn.ours() == [(name, "Missed")]
    assert "reportedAt" not in found["status"]
    (reported,) = [c for c in found["status"]["conditions"] if c["type"] == "Reported"]
    assert (reported["status"], reported["reason"]) == ("False", "ReportRefused")
    assert "HTTP 409" in reported["message"]
    story = ledger_door.dr_event_story(name)
    assert story is not None
    assert story.event.report_state == "Refused"
    assert "HTTP 409" in (story.event.report_detail or "")
    hub.objects.delete_cluster_custom_object(GROUP, VERSION, "demandresponseevents", name)

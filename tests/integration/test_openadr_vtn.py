"""gridshift as a VEN of a real, independent OpenADR 3.1 VTN (openleadr-vtn), polling at 10 s.

The VTN runs in its own network namespace with its PostgreSQL and broker (the ``openadr_vtn``
fixture); the zone, its OpenADRPoll feed and the VEN client's credentials live in the real hub;
the signals package runs as the operator runs it (its scheduler, its processing loop) over the
real ledger. The grid operator's side is the VTN's own API with the BL client of its fixture:
it creates the program, enrolls gridshift's VEN with the zone's target, and creates, modifies
and deletes events. With the VTN's MQTT notifications each must reach the hub as a
DemandResponseEvent within 5 s; with the broker down (polling only), within one poll interval
plus the time to record and apply it.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from kubernetes import client
from operator_process import install_api
from vtn_operator import Bl, event_body

from orchestrator.api.common import GROUP, VERSION
from orchestrator.clusters.hub import HubClient
from orchestrator.clusters.kube import client_from_file
from orchestrator.devenv import Fleet
from orchestrator.devenv.vtn import VEN_CLIENT, LocalVtn
from orchestrator.ledger.handle import Ledger
from orchestrator.ledger.schema import upgrade_to_head
from orchestrator.settings import Settings
from orchestrator.signals.openadr_client import VtnRefusedError
from orchestrator.signals.wiring import build

pytestmark = pytest.mark.timeout(420)

HUB = "shanghai"
NAMESPACE = "gridshift-system"
RUN = uuid.uuid4().hex[:6]
SECRET = f"vtn-{RUN}"
POLL_SECONDS = 10
SLACK_SECONDS = 4.0
"""Time to record a polled event and apply its DemandResponseEvent, on a loaded machine."""
MQTT_SECONDS = 5.0
"""The most an event may take from its creation to its DemandResponseEvent with MQTT."""
TARGET = f"CN-SH-{RUN}"
PROGRAM = f"sh-peak-{RUN}"
VEN_NAME = f"gridshift-{RUN}"


@dataclass
class Env:
    """The VTN, its operator, the hub, and the signals service running in its own loop."""

    vtn: LocalVtn
    bl: Bl
    api: client.ApiClient
    program_id: str
    zone: str
    hub: HubClient
    ledger: Ledger

    def dr_events(self) -> dict[str, dict[str, Any]]:
        """The hub's DemandResponseEvents of our zone by OpenADR event id."""
        listed = client.CustomObjectsApi(self.api).list_cluster_custom_object(
            GROUP, VERSION, "demandresponseevents"
        )
        return {
            str(item["spec"]["source"].get("eventID")): item
            for item in listed["items"]
            if item["spec"]["zone"] == self.zone
        }


def subscribed(env: Env, since: int) -> bool:
    """Whether a client from the host connected to the broker after byte ``since`` of its log."""
    text = env.vtn.broker_log.read_text(errors="replace")[since:]
    return f"New client connected from {env.vtn.host_side}" in text


def wait_for(what: str, check: Callable[[], Any], *, seconds: float) -> tuple[Any, float]:
    """``check()``'s first truthy answer and how long it took; fails after ``seconds``."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        found = check()
        if found:
            return found, time.monotonic() - started
        time.sleep(0.25)
    raise AssertionError(f"{what}: not within {seconds:.0f} s")


def run_service(signals_ready: threading.Event, stop: threading.Event, **wiring: Any) -> None:
    """The signals service in an asyncio loop of its own, until ``stop`` is set."""

    async def main() -> None:
        async with httpx.AsyncClient() as http:
            signals = build(http=http, leader=lambda: True, **wiring)
            await signals.service.start()
            signals_ready.set()
            try:
                await asyncio.to_thread(stop.wait)
            finally:
                await signals.service.stop()

    asyncio.run(main())


@pytest.fixture(scope="module")
def env(fleet: Fleet, database_url: str, openadr_vtn: LocalVtn) -> Iterator[Env]:
    """The program at the VTN, the zone and the VEN credentials in the hub, the service polling,
    and gridshift's VEN registered and given the zone's target by the grid operator."""
    install_api(fleet)
    namespace = f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {NAMESPACE}}}\n"
    fleet.kubectl(HUB, "apply", "-f", "-", stdin=namespace)
    fleet.kubectl(HUB, "create", "secret", "generic", SECRET, "-n", NAMESPACE,
                  f"--from-literal=vtn={VEN_CLIENT[0]}:{VEN_CLIENT[1]}")  # fmt: skip
    fleet.kubectl(HUB, "label", "secret", SECRET, "-n", NAMESPACE,
                  "gridshift.io/feed-credentials=true")  # fmt: skip
    upgrade_to_head(database_url)
    bl = Bl(openadr_vtn.url)
    program = bl.call("POST", "/programs", json={"programName": PROGRAM})
    api = client_from_file(fleet.kubeconfig(HUB))
    zone = f"vtn-{RUN}"
    spec = {
        "gridOperators": [f"vtn-{RUN}"],
        "openADR": {"venName": VEN_NAME, "programNames": [PROGRAM], "targets": [TARGET]},
        "priceFeeds": [
            {
                "type": "OpenADRPoll",
                "url": openadr_vtn.url,
                "gridOperator": f"vtn-{RUN}",
                "pollIntervalSeconds": POLL_SECONDS,
                "credentialsSecretRef": {"name": SECRET, "namespace": NAMESPACE, "key": "vtn"},
            }
        ],
    }
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "GridZone", "metadata": {"name": zone}}
    client.CustomObjectsApi(api).create_cluster_custom_object(
        GROUP, VERSION, "gridzones", {**body, "spec": spec}
    )
    ledger = Ledger(database_url)
    ready, stop = threading.Event(), threading.Event()
    service = threading.Thread(
        target=run_service,
        args=(ready, stop),
        kwargs={
            "settings": Settings(feed_allowed_hosts=(urlsplit(openadr_vtn.url).hostname,)),
            "ledger": ledger,
            "hub": HubClient(api),
        },
        daemon=True,
    )
    service.start()
    try:
        assert ready.wait(60), "the signals service did not start"
        vens, _ = wait_for(
            "gridshift's VEN at the VTN",
            lambda: bl.call("GET", "/vens", params={"venName": VEN_NAME}),
            seconds=POLL_SECONDS + 20,
        )
        (ven,) = vens
        assert ven["clientID"] == VEN_CLIENT[0]
        bl.assign_targets(ven["id"], client_id=VEN_CLIENT[0], name=VEN_NAME, targets=[TARGET])
        made = Env(openadr_vtn, bl, api, str(program["id"]), zone, HubClient(api), ledger)
        wait_for("gridshift's MQTT subscriber", lambda: subscribed(made, 0), seconds=30)
        yield made
    finally:
        stop.set()
        service.join(30)
        ledger.close()
        fleet.kubectl(HUB, "delete", "gridzone", zone, "--ignore-not-found", "--wait=false")
        fleet.kubectl(HUB, "delete", "demandresponseevents", "-l", f"gridshift.io/zone={zone}",
                      "--ignore-not-found", "--wait=false")  # fmt: skip
        fleet.kubectl(HUB, "delete", "secret", SECRET, "-n", NAMESPACE, "--ignore-not-found")


def test_an_untargeted_program_event_becomes_a_demand_response_event(env: Env) -> None:
    """(a) The operator creates an event in the zone's program without targets: gridshift finds
    it through the program's name; MQTT brings it within 5 s."""
    event_id = env.bl.event(env.program_id, kw=800)
    dre, took = wait_for(
        "the untargeted event's DemandResponseEvent",
        lambda: env.dr_events().get(event_id),
        seconds=MQTT_SECONDS,
    )
    print(f"untargeted event -> DemandResponseEvent in {took:.1f} s")
    assert dre["spec"]["importCapKW"] == pytest.approx(800)
    assert dre["spec"]["source"]["kind"] == "OpenADR"
    assert dre["spec"]["source"]["program"] == env.program_id


def test_a_targeted_event_becomes_one_and_another_zones_does_not(env: Env) -> None:
    """(b) An event targeted at the zone's target arrives; one targeted elsewhere never does."""
    elsewhere = env.bl.event(env.program_id, kw=700, targets=[f"CN-HB-{RUN}"])
    event_id = env.bl.event(env.program_id, kw=900, targets=[TARGET])
    dre, took = wait_for(
        "the targeted event's DemandResponseEvent",
        lambda: env.dr_events().get(event_id),
        seconds=MQTT_SECONDS,
    )
    print(f"targeted event -> DemandResponseEvent in {took:.1f} s")
    assert dre["spec"]["importCapKW"] == pytest.approx(900)
    time.sleep(POLL_SECONDS + 1)
    assert elsewhere not in env.dr_events(), "an event for another target reached the zone"


def test_a_modified_capacity_revises_and_a_deletion_cancels(env: Env) -> None:
    """The operator lowers the event's capacity limit: the DemandResponseEvent follows; then it
    deletes the event: the DemandResponseEvent is Cancelled."""
    event_id = env.bl.event(env.program_id, kw=1000)
    wait_for("the event", lambda: env.dr_events().get(event_id), seconds=MQTT_SECONDS)
    revised = event_body(env.program_id, kw=600)
    original = env.bl.call("GET", f"/events/{event_id}")
    revised["intervalPeriod"] = original["intervalPeriod"]
    env.bl.call("PUT", f"/events/{event_id}", json=revised)
    _, took = wait_for(
        "the revised capacity",
        lambda: env.dr_events()[event_id]["spec"]["importCapKW"] == pytest.approx(600),
        seconds=MQTT_SECONDS,
    )
    print(f"modified event -> revised DemandResponseEvent in {took:.1f} s")
    env.bl.call("DELETE", f"/events/{event_id}")
    _, took = wait_for(
        "the cancellation",
        lambda: (env.dr_events()[event_id].get("status") or {}).get("state") == "Cancelled",
        seconds=MQTT_SECONDS,
    )
    print(f"deleted event -> Cancelled DemandResponseEvent in {took:.1f} s")


def test_with_the_broker_down_polling_brings_events_and_mqtt_resumes_after(env: Env) -> None:
    """The broker stops: an untargeted and a targeted event still arrive within one poll
    interval (polling only). It starts again: gridshift resubscribes, catches up, and the next
    event arrives within 5 s again; no event is applied twice."""
    env.vtn.stop_broker()
    untargeted = env.bl.event(env.program_id, kw=450)
    targeted = env.bl.event(env.program_id, kw=550, targets=[TARGET])
    for name, event_id in (("untargeted", untargeted), ("targeted", targeted)):
        _, took = wait_for(
            f"the {name} event while polling only",
            lambda event_id=event_id: env.dr_events().get(event_id),
            seconds=POLL_SECONDS + SLACK_SECONDS,
        )
        print(f"polling only: {name} event -> DemandResponseEvent in {took:.1f} s")
    since = env.vtn.broker_log.stat().st_size
    env.vtn.start_broker()
    _, took = wait_for("gridshift resubscribed", lambda: subscribed(env, since), seconds=40)
    print(f"broker back: gridshift resubscribed in {took:.1f} s")
    time.sleep(17)  # the VTN's own client reconnects within 16 s
    before = env.dr_events()
    event_id = env.bl.event(env.program_id, kw=350)
    _, took = wait_for(
        "an event after the broker came back",
        lambda: env.dr_events().get(event_id),
        seconds=MQTT_SECONDS,
    )
    print(f"after the broker restart: event -> DemandResponseEvent in {took:.1f} s")
    assert set(env.dr_events()) == {*before, event_id}, "an event was lost or applied twice"


def test_vtn_restart_loses_nothing(env: Env) -> None:
    """The VTN stops and starts again (same database, same signing key): an event created after
    the restart arrives, and the earlier ones are not applied twice."""
    before = env.dr_events()
    env.vtn.stop_vtn()
    time.sleep(POLL_SECONDS)
    env.vtn.start_vtn()
    event_id = env.bl.event(env.program_id, kw=500)
    wait_for(
        "an event after the restart",
        lambda: env.dr_events().get(event_id),
        seconds=2 * POLL_SECONDS + SLACK_SECONDS,
    )
    after = env.dr_events()
    assert set(before) <= set(after)
    assert len(after) == len(before) + 1, "an event was applied twice or lost"


def report(env: Env, **outcome: Any) -> bool:
    """Report a DR outcome through the signals package, as the operator's DR loop does."""

    async def main() -> bool:
        async with httpx.AsyncClient() as http:
            signals = build(
                Settings(
                    openadr_client_name=VEN_NAME,
                    feed_allowed_hosts=(str(urlsplit(env.vtn.url).hostname),),
                ),
                ledger=env.ledger,
                hub=env.hub,
                http=http,
                leader=lambda: True,
            )
            signals.service.zones.replace(await asyncio.to_thread(env.hub.list_zones))
            return await signals.service.report_dr_outcome(**outcome)

    return asyncio.run(main())


def test_an_outcome_report_reaches_the_vtn_and_one_for_an_unknown_event_is_refused(
    env: Env,
) -> None:
    """The report of an event's outcome is stored by the VTN under that event, with the USAGE
    its descriptors ask for; a report of an event the VTN does not know is refused (4xx), which
    gridshift keeps apart from failures worth retrying."""
    event_id = env.bl.event(env.program_id, kw=800)
    start = datetime.now(UTC).replace(microsecond=0)
    outcome: dict[str, Any] = {
        "zone": env.zone,
        "event_id": event_id,
        "program": None,
        "state": "Met",
        "achieved_kw": 200.0,
        "zone_load_kw": 600.0,
        "window_start": start,
        "window_end": start + timedelta(minutes=30),
    }
    assert report(env, **outcome) is True
    stored = env.bl.call("GET", "/reports", params={"eventID": event_id})
    (found,) = [r for r in stored if r["eventID"] == event_id]
    print(f"the report as the VTN stores it: {found}")
    assert found.get("programID") in (None, env.program_id), "3.1 reports carry no programID"
    assert found["clientName"] == VEN_NAME
    (resource,) = found["resources"]
    (interval,) = resource["intervals"]
    assert {p["type"]: p["values"] for p in interval["payloads"]} == {"USAGE": [600.0]}
    with pytest.raises(VtnRefusedError) as refused:
        report(env, **{**outcome, "event_id": f"unknown-{RUN}"})
    print(f"report of an unknown event: HTTP {refused.value.status} {refused.value.detail}")
    assert 400 <= refused.value.status < 500

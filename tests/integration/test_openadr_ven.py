"""gridshift's VEN code against a real, independent OpenADR 3.1 VTN (openleadr-vtn), no hub.

The VTN, its PostgreSQL and its broker are the ``openadr_vtn`` fixture's. Each test gets a VEN
client of its own, made by the grid operator through the VTN's ``/users`` API, so tests do not
share a VEN object (a 3.1 VTN keeps one per client). What is tested here is what gridshift asks
and understands: registration, program names, the events the VTN shows, MQTT notifications,
report refusals. tests/integration/test_openadr_vtn.py takes the same path on to the hub.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from vtn_operator import Bl

from orchestrator.api.common import SecretKeyRef
from orchestrator.api.gridzone import GridZoneSpec, GridZoneStatus, PriceFeed
from orchestrator.devenv.vtn import LocalVtn
from orchestrator.signals.openadr import parse_notification
from orchestrator.signals.openadr_client import VtnRefusedError
from orchestrator.signals.openadr_mqtt import listen
from orchestrator.signals.openadr_ven import Vens

pytestmark = pytest.mark.timeout(180)


@dataclass(frozen=True)
class Zone:
    """A GridZone as the signals package reads it."""

    name: str
    generation: int | None
    spec: GridZoneSpec
    status: GridZoneStatus | None = None


@dataclass
class Case:
    """One test's program, VEN client and zone at the VTN."""

    vtn: LocalVtn
    bl: Bl
    program_id: str
    program: str
    client: tuple[str, str]
    target: str
    zone: Zone

    def feed(self) -> PriceFeed:
        return self.zone.spec.price_feeds[0]

    def vens(self, http: httpx.AsyncClient) -> Vens:
        def read(ref: SecretKeyRef) -> str:
            return f"{self.client[0]}:{self.client[1]}"

        return Vens(http=http, secrets=read)


@pytest.fixture
def case(openadr_vtn: LocalVtn) -> Case:
    """A program, a VEN client, and a zone bound to both."""
    run = uuid.uuid4().hex[:6]
    bl = Bl(openadr_vtn.url)
    program = f"peak-{run}"
    made = bl.call("POST", "/programs", json={"programName": program})
    target = f"CN-SH-{run}"
    spec = GridZoneSpec.model_validate(
        {
            "gridOperators": ["sgcc-sh"],
            "openADR": {"venName": f"gs-{run}", "programNames": [program], "targets": [target]},
            "priceFeeds": [
                {
                    "type": "OpenADRPoll",
                    "url": openadr_vtn.url,
                    "gridOperator": "sgcc-sh",
                    "pollIntervalSeconds": 10,
                    "credentialsSecretRef": {"namespace": "gs", "name": "vtn", "key": "creds"},
                }
            ],
        }
    )
    return Case(
        vtn=openadr_vtn,
        bl=bl,
        program_id=str(made["id"]),
        program=program,
        client=bl.ven_client(f"ven-{run}"),
        target=target,
        zone=Zone(f"zone-{run}", 1, spec),
    )


def shown(case: Case) -> list[str]:
    """The ids of the events gridshift's VEN finds for the zone now (registering it first)."""

    async def main() -> list[str]:
        async with httpx.AsyncClient() as http:
            found = await case.vens(http).events(case.zone, case.feed())
        return sorted(str(e.id) for e in found)

    result: list[str] = asyncio.run(main())
    return result


def our_ven(case: Case) -> dict[str, Any]:
    (ven,) = case.bl.call("GET", "/vens", params={"venName": case.zone.spec.openadr.ven_name})
    return dict(ven)


def test_the_ven_registers_and_finds_untargeted_and_its_targeted_events(case: Case) -> None:
    """Untargeted events of the zone's program are found by the program's name; a targeted one
    only once the grid operator gave the VEN that target; another target's event never."""
    untargeted = case.bl.event(case.program_id, kw=800)
    targeted = case.bl.event(case.program_id, kw=900, targets=[case.target])
    elsewhere = case.bl.event(case.program_id, kw=700, targets=[f"{case.target}-other"])
    other = case.bl.call("POST", "/programs", json={"programName": f"{case.program}-other"})
    case.bl.event(str(other["id"]), kw=600)

    assert shown(case) == [untargeted]
    ven = our_ven(case)
    assert ven["clientID"] == case.client[0]
    assert ven["targets"] == [], "a 3.1 VEN cannot set its own targets"

    case.bl.assign_targets(
        ven["id"], client_id=case.client[0], name=ven["venName"], targets=[case.target]
    )
    assert shown(case) == sorted([untargeted, targeted])
    assert elsewhere not in shown(case)
    assert len(case.bl.call("GET", "/vens", params={"venName": ven["venName"]})) == 1


def test_mqtt_brings_each_new_event_within_5_seconds(case: Case) -> None:
    """After registration, gridshift subscribes to its VEN's event topic at the VTN's broker
    (found at /notifiers, logged in with its bearer token): a created event's notification
    arrives within 5 s and maps to the zone's DR order; a deletion maps to a cancellation."""
    shown(case)  # registers the VEN
    ven = our_ven(case)

    async def main() -> list[tuple[float, Any]]:
        received: asyncio.Queue[bytes] = asyncio.Queue()
        ready = asyncio.Event()
        got: list[tuple[float, Any]] = []
        async with httpx.AsyncClient() as http:
            vens = case.vens(http)
            link = await vens.link(case.zone, case.feed())
            await vens.events(case.zone, case.feed())

            async def deliver(payload: bytes) -> None:
                await received.put(payload)

            async def connected() -> None:
                ready.set()

            task = asyncio.create_task(
                listen(link.client, ven["id"], deliver=deliver, connected=connected)
            )
            try:
                await asyncio.wait_for(ready.wait(), 20)
                for action in ("create", "delete"):
                    started = time.monotonic()
                    if action == "create":
                        event_id = await asyncio.to_thread(case.bl.event, case.program_id, kw=750)
                    else:
                        await asyncio.to_thread(case.bl.call, "DELETE", f"/events/{event_id}")
                    while True:
                        payload = await asyncio.wait_for(received.get(), 5)
                        notification = parse_notification(json.loads(payload))
                        if notification.object.get("id") == event_id:
                            break
                    signals = await vens.notified(
                        case.zone, case.feed(), notification, datetime.now(UTC)
                    )
                    got.append((time.monotonic() - started, (notification.operation, signals)))
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        return got

    (created_after, (created_op, created)), (deleted_after, (deleted_op, deleted)) = asyncio.run(
        main()
    )
    print(f"MQTT: create after {created_after:.2f} s, delete after {deleted_after:.2f} s")
    assert created_after < 5.0
    assert deleted_after < 5.0
    assert created_op.upper() == "CREATE"
    assert [s.order.kw for s in created if s.order] == [750.0]
    assert deleted_op.upper() == "DELETE"
    assert [s.order.cancelled for s in deleted if s.order] == [True]


def test_a_report_of_an_event_the_vtn_does_not_know_is_refused(case: Case) -> None:
    """POST /reports for an unknown event: the VTN answers 4xx, which is a VtnRefusedError
    (never retried), not a plain failure."""
    shown(case)

    async def main() -> None:
        async with httpx.AsyncClient() as http:
            client = await case.vens(http).client(case.zone, case.feed())
            await client.post_report(
                {
                    "programID": case.program_id,
                    "eventID": f"unknown-{uuid.uuid4().hex[:6]}",
                    "clientName": "gridshift",
                    "reportName": "gridshift Met unknown",
                    "payloadDescriptors": [],
                    "resources": [],
                }
            )

    with pytest.raises(VtnRefusedError) as refused:
        asyncio.run(main())
    print(f"refused: HTTP {refused.value.status} {refused.value.detail}")
    assert 400 <= refused.value.status < 500


def test_a_vtn_restarted_with_a_new_signing_key_is_followed(case: Case) -> None:
    """The VTN restarts signing tokens with a new key: gridshift's cached token is refused
    (401), it takes a fresh one and carries on; the event created meanwhile is found."""

    async def main() -> tuple[list[str], str, list[str]]:
        async with httpx.AsyncClient() as http:
            vens = case.vens(http)
            before = [str(e.id) for e in await vens.events(case.zone, case.feed())]
            case.vtn.oauth_secret = base64.b64encode(secrets.token_bytes(32)).decode()
            await asyncio.to_thread(case.vtn.stop_vtn)
            await asyncio.to_thread(case.vtn.start_vtn)
            event_id = await asyncio.to_thread(Bl(case.vtn.url).event, case.program_id, kw=650)
            after = [str(e.id) for e in await vens.events(case.zone, case.feed())]
            return before, event_id, after

    before, event_id, after = asyncio.run(main())
    assert event_id not in before
    assert event_id in after

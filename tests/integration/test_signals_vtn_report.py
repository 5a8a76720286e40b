"""DR outcomes reported to a VTN: a FastAPI VTN under uvicorn on loopback, zones in the real hub.

The zone, its OpenADRPoll feed and the feed's OAuth2 credentials live in the hub cluster (a real
GridZone and Secret); the signals package is wired over the real ledger as the operator wires
it. The VTN discovers its token URL at ``/auth/server``, serves ``GET /events/{id}`` and records
every ``POST /reports``; it can be told to fail.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from kubernetes import client
from operator_process import install_api
from served import serve

from orchestrator.api.common import GROUP, VERSION
from orchestrator.clusters.hub import HubClient
from orchestrator.clusters.kube import client_from_file
from orchestrator.devenv import Fleet
from orchestrator.errors import SignalError
from orchestrator.ledger.handle import Ledger
from orchestrator.ledger.schema import upgrade_to_head
from orchestrator.settings import Settings
from orchestrator.signals.wiring import FEED_SECRET_LABEL, build

pytestmark = pytest.mark.timeout(300)

HUB = "shanghai"
NAMESPACE = "gridshift-system"
RUN = uuid.uuid4().hex[:6]
SECRET = f"report-{RUN}"
CLIENT_ID, CLIENT_SECRET, TOKEN = "ven-1", "ven-secret", f"jwt-{RUN}"
START = datetime(2026, 7, 15, 4, 0, tzinfo=UTC)
NOW = START + timedelta(minutes=20)


@dataclass
class Vtn:
    """What the VTN serves and what it received."""

    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    reports: list[dict[str, Any]] = field(default_factory=list)
    report_status: int = 201
    calls: list[str] = field(default_factory=list)
    url: str = ""


def vtn_app(vtn: Vtn) -> FastAPI:
    """An OpenADR 3.1 VTN: token discovery, client-credentials token, events, reports."""
    app = FastAPI()

    def authorized(request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {TOKEN}"

    @app.get("/auth/server")
    async def server() -> dict[str, str]:
        vtn.calls.append("GET /auth/server")
        return {"tokenURL": f"{vtn.url}/auth/token"}

    @app.post("/auth/token")
    async def token(request: Request) -> JSONResponse:
        vtn.calls.append("POST /auth/token")
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        wanted = {
            "grant_type": "client_credentials",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        }
        if form != wanted:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        return JSONResponse({"access_token": TOKEN, "token_type": "Bearer", "expires_in": 3600})

    @app.get("/events/{event_id}")
    async def event(event_id: str, request: Request) -> JSONResponse:
        vtn.calls.append(f"GET /events/{event_id}")
        if not authorized(request):
            return JSONResponse({"title": "unauthorized"}, status_code=401)
        if event_id not in vtn.events:
            return JSONResponse({"title": "not found"}, status_code=404)
        return JSONResponse(vtn.events[event_id])

    @app.post("/reports")
    async def report(request: Request) -> JSONResponse:
        vtn.calls.append("POST /reports")
        if not authorized(request):
            return JSONResponse({"title": "unauthorized"}, status_code=401)
        if vtn.report_status >= 400:
            return JSONResponse({"title": "broken"}, status_code=vtn.report_status)
        body = await request.json()
        vtn.reports.append(body)
        return JSONResponse({**body, "id": f"rep-{len(vtn.reports)}"}, status_code=201)

    return app


@dataclass
class Env:
    """The hub, the ledger and the VTN."""

    api: client.ApiClient
    hub: HubClient
    database_url: str
    vtn: Vtn
    zones: list[str]
    ledger: Ledger

    def create_zone(self, spec: dict[str, Any]) -> str:
        name = f"report-{uuid.uuid4().hex[:8]}"
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "GridZone",
            "metadata": {"name": name},
            "spec": spec,
        }
        client.CustomObjectsApi(self.api).create_cluster_custom_object(
            GROUP, VERSION, "gridzones", body
        )
        self.zones.append(name)
        return name

    def vtn_zone(self) -> str:
        return self.create_zone(
            {
                "openADR": {"venName": "gs", "targets": [f"report-{RUN}"]},
                "gridOperators": [f"vtn-{RUN}"],
                "priceFeeds": [
                    {"type": "TimeOfUse"},
                    {
                        "type": "OpenADRPoll",
                        "url": self.vtn.url,
                        "gridOperator": f"vtn-{RUN}",
                        "credentialsSecretRef": {
                            "name": SECRET,
                            "namespace": NAMESPACE,
                            "key": "vtn",
                        },
                    },
                ],
            }
        )


@pytest.fixture(scope="module")
def env(fleet: Fleet, database_url: str) -> Iterator[Env]:
    """CRDs and the VTN credentials in the hub, the ledger at head, the VTN serving."""
    install_api(fleet)
    namespace = f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {NAMESPACE}}}\n"
    fleet.kubectl(HUB, "apply", "-f", "-", stdin=namespace)
    fleet.kubectl(HUB, "create", "secret", "generic", SECRET, "-n", NAMESPACE,
                  f"--from-literal=vtn={CLIENT_ID}:{CLIENT_SECRET}")  # fmt: skip
    fleet.kubectl(HUB, "label", "secret", SECRET, "-n", NAMESPACE, f"{FEED_SECRET_LABEL}=true")
    upgrade_to_head(database_url)
    vtn = Vtn()
    api = client_from_file(fleet.kubeconfig(HUB))
    made = Env(api, HubClient(api), database_url, vtn, [], Ledger(database_url))
    with serve(vtn_app(vtn)) as url:
        vtn.url = url
        yield made
    made.ledger.close()
    for name in made.zones:
        fleet.kubectl(HUB, "delete", "gridzone", name, "--ignore-not-found", "--wait=false")
    fleet.kubectl(HUB, "delete", "secret", SECRET, "-n", NAMESPACE, "--ignore-not-found")


def report(env: Env, **outcome: Any) -> bool:
    """Wire the signals package over the hub and ledger, read the zones, report ``outcome``."""

    async def main() -> bool:
        async with httpx.AsyncClient() as http:
            signals = build(
                Settings(openadr_client_name=f"gs-{RUN}", feed_allowed_hosts=("127.0.0.1",)),
                ledger=env.ledger,
                hub=env.hub,
                http=http,
                leader=lambda: True,
                clock=lambda: NOW,
            )
            signals.service.zones.replace(await asyncio.to_thread(env.hub.list_zones))
            return await signals.service.report_dr_outcome(**outcome)

    return asyncio.run(main())


def outcome(zone: str, event_id: str, **changes: Any) -> dict[str, Any]:
    """A Met outcome of ``event_id`` in ``zone``: 520 kW shed, 1480 kW still drawn, 30 min."""
    base: dict[str, Any] = {
        "zone": zone,
        "event_id": event_id,
        "program": "prog-from-dre",
        "state": "Met",
        "achieved_kw": 520.0,
        "zone_load_kw": 1480.0,
        "window_start": START,
        "window_end": START + timedelta(minutes=30),
    }
    return base | changes


def payloads(posted: dict[str, Any]) -> dict[str, float]:
    """The posted report's payload values by type (one resource, one interval)."""
    (resource,) = posted["resources"]
    (interval,) = resource["intervals"]
    return {p["type"]: p["values"][0] for p in interval["payloads"]}


# A zone with a VTN


def test_report_follows_the_events_descriptors_and_program(env: Env) -> None:
    """The VTN's event asks USAGE in kWh: that is what arrives, under the event's programID."""
    zone = env.vtn_zone()
    event_id = f"evt-{uuid.uuid4().hex[:8]}"
    env.vtn.events[event_id] = {
        "id": event_id,
        "objectType": "EVENT",
        "programID": "prog-vtn-1",
        "reportDescriptors": [
            {"payloadType": "USAGE", "readingType": "DIRECT_READ", "units": "KWH"},
        ],
        "intervals": [],
    }
    before = len(env.vtn.reports)

    assert report(env, **outcome(zone, event_id)) is True

    (posted,) = env.vtn.reports[before:]
    assert posted["eventID"] == event_id
    assert posted["programID"] == "prog-vtn-1"
    assert posted["clientName"] == f"gs-{RUN}"
    assert payloads(posted) == {"USAGE": 740.0}
    assert posted["payloadDescriptors"] == [
        {
            "objectType": "REPORT_PAYLOAD_DESCRIPTOR",
            "payloadType": "USAGE",
            "readingType": "ESTIMATED",
            "units": "KWH",
        }
    ]
    assert posted["resources"][0]["resourceName"] == zone
    assert "POST /auth/token" in env.vtn.calls


def test_event_gone_from_the_vtn_sends_both_payloads_and_the_known_program(env: Env) -> None:
    """The VTN no longer serves the event: USAGE and DELTA_USAGE in kW, programID from the DRE."""
    zone = env.vtn_zone()
    event_id = f"gone-{uuid.uuid4().hex[:8]}"
    before = len(env.vtn.reports)

    sent = report(
        env, **outcome(zone, event_id, state="Missed", achieved_kw=300.0, window_end=None)
    )

    assert sent is True
    assert f"GET /events/{event_id}" in env.vtn.calls
    (posted,) = env.vtn.reports[before:]
    assert posted["programID"] == "prog-from-dre"
    assert "Missed" in posted["reportName"]
    assert payloads(posted) == {"USAGE": 1480.0, "DELTA_USAGE": -300.0}
    # An open window is reported up to now (20 minutes after its start).
    assert posted["resources"][0]["intervalPeriod"] == {
        "start": "2026-07-15T04:00:00Z",
        "duration": "PT20M",
    }


# No VTN, or a failing VTN


def test_zone_without_a_vtn_reports_nothing(env: Env) -> None:
    """A zone with only a tariff feed, and an unknown zone: False, the VTN hears nothing."""
    zone = env.create_zone({"priceFeeds": [{"type": "TimeOfUse"}]})
    calls = len(env.vtn.calls)
    assert report(env, **outcome(zone, "evt-none")) is False
    assert report(env, **outcome(f"absent-{RUN}", "evt-none")) is False
    assert env.vtn.calls[calls:] == []


def test_vtn_failing_on_reports_is_a_signal_error(env: Env) -> None:
    """POST /reports answering 500: SignalError naming the call and the status; nothing kept."""
    zone = env.vtn_zone()
    before = len(env.vtn.reports)
    env.vtn.report_status = 500
    try:
        with pytest.raises(
            SignalError, match=r"POST /reports at VTN http://127\.0\.0\.1:\d+: HTTP 500"
        ):
            report(env, **outcome(zone, "evt-broken"))
    finally:
        env.vtn.report_status = 201
    assert env.vtn.reports[before:] == []
    assert env.vtn.calls[-1] == "POST /reports"

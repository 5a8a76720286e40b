"""Client code paths of the VTN client and the feed poller, over httpx.MockTransport."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from orchestrator.api.common import SecretKeyRef
from orchestrator.api.gridzone import GridZoneSpec, GridZoneStatus, PriceFeed
from orchestrator.errors import SignalError
from orchestrator.signals.feeds import FeedPoller
from orchestrator.signals.openadr_client import ClientCredentials, VtnClient
from orchestrator.signals.outbound import Outbound

NOW = datetime(2026, 7, 15, 4, 10, tzinfo=UTC)


async def public(host: str, port: int) -> list[str]:
    """A resolver for the test hosts: every one is a public documentation address."""
    return ["192.0.2.10"]


OUTBOUND = Outbound(["feed.test", "em.test", "*.vtn.test", "vtn.test"], resolver=public)
Handler = Callable[[httpx.Request], httpx.Response]


@dataclass(frozen=True)
class Zone:
    """A zone as the poller reads it."""

    name: str
    generation: int | None
    spec: GridZoneSpec
    status: GridZoneStatus | None = None


def run(handler: Handler, work: Callable[[httpx.AsyncClient], Any]) -> Any:
    """Run ``work`` with a client whose transport is ``handler``."""

    async def main() -> Any:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            return await work(http)

    return asyncio.run(main())


def vtn_handler(calls: list[httpx.Request], *, events: int = 0) -> Handler:
    """A VTN: /auth/server, /token, paged /events, /subscriptions."""

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        path = request.url.path
        if path == "/auth/server":
            return httpx.Response(200, json={"tokenURL": "http://vtn.test/token"})
        if path == "/token":
            form = dict(x.split("=") for x in request.content.decode().split("&"))
            assert form["grant_type"] == "client_credentials"
            assert form["client_id"] == "ven"
            return httpx.Response(200, json={"access_token": "jwt-1", "expires_in": 3600})
        assert request.headers["authorization"] == "Bearer jwt-1"
        if path == "/events":
            skip = int(request.url.params["skip"])
            page = [
                {"id": f"e{i}", "programID": "p", "intervals": []}
                for i in range(skip, min(skip + 50, events))
            ]
            return httpx.Response(200, json=page)
        if path == "/subscriptions" and request.method == "GET":
            return httpx.Response(200, json=[])
        if path == "/subscriptions" and request.method == "POST":
            body = json.loads(request.content)
            assert body["objectOperations"][0]["operations"] == ["CREATE", "UPDATE", "DELETE"]
            return httpx.Response(201, json={"id": "sub-1", **body})
        return httpx.Response(404)

    return handle


def test_token_is_discovered_once_and_events_are_paged() -> None:
    """3.1 discovery at /auth/server, one token for many calls, 120 events over three pages."""
    calls: list[httpx.Request] = []

    async def work(http: httpx.AsyncClient) -> Any:
        vtn = VtnClient(
            "http://vtn.test", credentials=ClientCredentials("ven", "s3cret"), http=http
        )
        return await vtn.events(targets=["CN-SH"])

    events = run(vtn_handler(calls, events=120), work)
    assert [e.id for e in events] == [f"e{i}" for i in range(120)]
    assert [c.url.path for c in calls].count("/token") == 1
    assert [c.url.params.get("targets") for c in calls if c.url.path == "/events"] == ["CN-SH"] * 3


def test_subscription_is_created_when_missing() -> None:
    """No subscription for our callback: one is created, its id returned."""
    calls: list[httpx.Request] = []

    async def work(http: httpx.AsyncClient) -> Any:
        vtn = VtnClient("http://vtn.test", credentials=ClientCredentials("ven", "s"), http=http)
        return await vtn.ensure_subscription(
            client_name="gridshift",
            callback_url="https://gs/cb",
            bearer_token="tok",
            targets=["CN-SH"],
        )

    assert run(vtn_handler(calls), work) == "sub-1"


@pytest.mark.parametrize(
    ("answer", "match"),
    [
        (httpx.Response(500), "HTTP 500"),
        (httpx.Response(200, content=b"<html>"), "not JSON"),
        (httpx.Response(200, json={"events": []}), "expected a list"),
    ],
)
def test_vtn_failures_are_signal_errors(answer: httpx.Response, match: str) -> None:
    """Errors, non-JSON and unexpected shapes from the VTN are SignalErrors naming the call."""

    async def work(http: httpx.AsyncClient) -> Any:
        return await VtnClient("http://vtn.test", credentials=None, http=http).events(targets=[])

    with pytest.raises(SignalError, match=match):
        run(lambda request: answer, work)


def test_credentials_need_both_parts() -> None:
    """Client credentials are '<id>:<secret>'."""
    assert ClientCredentials.parse("ven:a:b") == ClientCredentials("ven", "a:b")
    with pytest.raises(SignalError):
        ClientCredentials.parse("ven")


def poll(handler: Handler, feed: dict[str, Any]) -> Any:
    """Poll one feed of a CNY zone through ``handler``."""
    zone = Zone("z", 1, GridZoneSpec.model_validate({"currency": "CNY"}))

    def secrets(ref: SecretKeyRef) -> str:
        return "tok"

    async def work(http: httpx.AsyncClient) -> Any:
        poller = FeedPoller(http=http, secrets=secrets, clock=lambda: NOW, outbound=OUTBOUND)
        return await poller.poll(zone, PriceFeed.model_validate(feed))

    return run(handler, work)


def test_http_json_number_and_series() -> None:
    """A number at valuePath prices the poll interval; a list at it is a series."""
    single = poll(
        lambda r: httpx.Response(200, json={"data": {"price": 0.61}}),
        {"type": "HTTPJSON", "url": "http://feed.test/p", "valuePath": "data.price"},
    )
    assert [(s.value, s.unit, s.start.minute, s.end.minute) for s in single] == [
        (0.61, "CNY/kWh", 0, 15)
    ]
    series = poll(
        lambda r: httpx.Response(
            200,
            json={
                "prices": [
                    {"start": "2026-07-15T04:00:00Z", "end": "2026-07-15T05:00:00Z", "value": 0.5},
                    {"datetime": "2026-07-15T05:00:00Z", "value": 0.7},
                ]
            },
        ),
        {"type": "HTTPJSON", "url": "http://feed.test/p", "valuePath": "prices"},
    )
    assert [s.value for s in series] == [0.5, 0.7]


def test_http_json_sends_the_secret_as_bearer() -> None:
    """A credentialsSecretRef becomes an Authorization bearer header."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization", ""))
        return httpx.Response(200, json={"v": 1})

    poll(
        handler,
        {
            "type": "HTTPJSON",
            "url": "http://feed.test/p",
            "valuePath": "v",
            "credentialsSecretRef": {"name": "feed", "namespace": "gs", "key": "token"},
        },
    )
    assert seen == ["Bearer tok"]


@pytest.mark.parametrize(
    ("answer", "match"),
    [
        (httpx.Response(503), "HTTP 503"),
        (httpx.Response(200, content=b"{"), "not JSON"),
        (httpx.Response(200, json={"data": {}}), "nothing at"),
        (httpx.Response(200, json={"data": {"price": "high"}}), "not a number"),
    ],
)
def test_http_json_failures_record_nothing(answer: httpx.Response, match: str) -> None:
    """An error, a malformed body, a missing or non-numeric value: SignalError, no price."""
    with pytest.raises(SignalError, match=match):
        poll(
            lambda r: answer,
            {"type": "HTTPJSON", "url": "http://feed.test/p", "valuePath": "data.price"},
        )


def test_electricity_maps_passes_zone_and_token() -> None:
    """Both requests carry auth-token and zone; carbon g/kWh, price EUR/MWh to EUR/kWh."""
    seen: list[tuple[str, str | None, str | None]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(
            (request.url.path, request.headers.get("auth-token"), request.url.params.get("zone"))
        )
        if request.url.path.endswith("carbon-intensity/latest"):
            return httpx.Response(
                200,
                json={"zone": "DE", "carbonIntensity": 322, "datetime": "2026-07-15T04:00:00.000Z"},
            )
        return httpx.Response(
            200,
            json={
                "zone": "DE",
                "datetime": "2026-07-15T04:00:00.000Z",
                "value": 84.0,
                "unit": "EUR/MWh",
            },
        )

    ref = {"name": "em", "namespace": "gs", "key": "token"}
    feed = {
        "type": "ElectricityMaps",
        "url": "http://em.test/v4",
        "area": "DE",
        "credentialsSecretRef": ref,
    }
    signals = poll(handler, feed)
    assert [(s.kind, s.value, s.unit) for s in signals] == [
        ("carbon_intensity", 322.0, "g/kWh"),
        ("price", 0.084, "EUR/kWh"),
    ]
    assert {(t, z) for _, t, z in seen} == {("tok", "DE")}


def test_electricity_maps_needs_its_token() -> None:
    """Without credentials the feed refuses to call Electricity Maps."""
    with pytest.raises(SignalError, match="auth-token"):
        poll(lambda r: httpx.Response(200), {"type": "ElectricityMaps", "area": "DE"})


def test_existing_subscription_is_updated_not_duplicated_and_reports_post() -> None:
    """A subscription for our callback with an old token is PUT, not re-created; reports POST."""
    calls: list[httpx.Request] = []
    existing = {
        "id": "sub-7",
        "clientName": "gridshift",
        "targets": ["CN-SH"],
        "objectOperations": [
            {
                "objects": ["EVENT"],
                "operations": ["CREATE"],
                "callbackUrl": "https://gs/cb",
                "bearerToken": "old",
            }
        ],
    }

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if request.method == "GET":
            return httpx.Response(200, json=[existing])
        return httpx.Response(200, json={"id": "ok"})

    async def work(http: httpx.AsyncClient) -> Any:
        vtn = VtnClient("http://vtn.test", credentials=None, http=http, version="3.0.1")
        found = await vtn.ensure_subscription(
            client_name="gridshift",
            callback_url="https://gs/cb",
            bearer_token="new",
            targets=["CN-SH"],
        )
        await vtn.post_report({"eventID": "e1", "clientName": "gridshift", "resources": []})
        return found

    assert run(handler, work) == "sub-7"
    assert [(c.method, c.url.path) for c in calls] == [
        ("GET", "/subscriptions"),
        ("PUT", "/subscriptions/sub-7"),
        ("POST", "/reports"),
    ]
    sent = json.loads(calls[1].content)
    assert sent["objectOperations"][0]["operations"] == ["POST", "PUT", "DELETE"]
    assert sent["objectOperations"][0]["bearerToken"] == "new"

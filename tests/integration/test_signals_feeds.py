"""Price feeds polled from a real HTTP server on loopback, into zone state in the real hub.

The server plays each provider with sample payloads written from the documented formats
(HTTP JSON, Electricity Maps, ENTSO-E A44, an OpenADR 3 VTN with OAuth2), and can answer with
an error, hang past the client's timeout, or send a malformed body. Every failure ends with the
zone Stale once its TTL has passed: no crash, and no price that the feed did not send.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from kubernetes import client
from operator_process import install_api

from orchestrator.api.common import GROUP, VERSION
from orchestrator.clusters.hub import HubClient
from orchestrator.clusters.kube import client_from_file
from orchestrator.devenv import Fleet
from orchestrator.ledger.handle import Ledger
from orchestrator.ledger.schema import upgrade_to_head
from orchestrator.logs import configure
from orchestrator.settings import Settings
from orchestrator.signals.auth import Credentials
from orchestrator.signals.wiring import FEED_SECRET_LABEL, Signals, build

HUB = "shanghai"
NAMESPACE = "gridshift-system"
RUN = uuid.uuid4().hex[:6]
SECRET = f"feeds-{RUN}"
T0 = datetime(2026, 7, 15, 4, 10, tzinfo=UTC)
TTL = 60
EIC = "10YNL----------L"


class Clock:
    """A settable clock."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def a44() -> bytes:
    """A day-ahead A44 document: 96 quarter hours from 22:00Z, A03 with omitted repeats."""
    given = {1: 84.12, 2: 80.03, 24: 91.5, 25: 95.25, 30: 70.0, 96: 60.0}
    points = "".join(
        f"<Point><position>{p}</position><price.amount>{v}</price.amount></Point>"
        for p, v in sorted(given.items())
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Publication_MarketDocument xmlns="urn:iec62325.351:tc57wg16:451-3:publicationdocument:7:3">
 <mRID>a44-{RUN}</mRID><revisionNumber>1</revisionNumber><type>A44</type>
 <createdDateTime>2026-07-14T11:05:00Z</createdDateTime>
 <period.timeInterval><start>2026-07-14T22:00Z</start><end>2026-07-15T22:00Z</end></period.timeInterval>
 <TimeSeries><mRID>1</mRID><businessType>A62</businessType>
  <in_Domain.mRID codingScheme="A01">{EIC}</in_Domain.mRID><out_Domain.mRID codingScheme="A01">{EIC}</out_Domain.mRID>
  <currency_Unit.name>EUR</currency_Unit.name><price_Measure_Unit.name>MWH</price_Measure_Unit.name>
  <curveType>A03</curveType>
  <Period><timeInterval><start>2026-07-14T22:00Z</start><end>2026-07-15T22:00Z</end></timeInterval>
   <resolution>PT15M</resolution>{points}</Period></TimeSeries>
</Publication_MarketDocument>""".encode()


VTN_EVENT = (
    f'{{"id":"vtn-evt-{RUN}","createdDateTime":"2026-07-14T09:30:02Z",'
    '"modificationDateTime":"2026-07-14T09:30:02Z","objectType":"EVENT",'
    f'"programID":"sh-dc-peak-shaving","priority":0,"targets":["feeds-{RUN}"],'
    '"payloadDescriptors":[{"objectType":"EVENT_PAYLOAD_DESCRIPTOR","payloadType":"PRICE",'
    '"units":"KWH","currency":"CNY"}],'
    '"intervalPeriod":{"start":"2026-07-15T04:00:00Z","duration":"PT15M"},'
    '"intervals":[{"id":0,"payloads":[{"type":"PRICE","values":[1.32]}]},'
    '{"id":1,"payloads":[{"type":"PRICE","values":[1.58]}]},'
    '{"id":2,"payloads":[{"type":"PRICE","values":[1.58]}]},'
    '{"id":3,"payloads":[{"type":"PRICE","values":[1.32]}]}]}'
)
JSON = "application/json"
VTN: dict[tuple[str, str], tuple[int, str, bytes]] = {
    ("POST", "/vtn/token"): (200, JSON, b'{"access_token":"jwt-feeds","expires_in":3600}'),
    ("GET", "/vtn/subscriptions"): (200, JSON, b"[]"),
    ("POST", "/vtn/subscriptions"): (201, JSON, b'{"id":"sub-feeds"}'),
    ("GET", "/vtn/vens"): (200, JSON, b"[]"),
    ("POST", "/vtn/vens"): (201, JSON, b'{"id":"ven-feeds","venName":"gs","targets":[]}'),
}
# What each path answers when the provider is healthy: (content type, body).
SAMPLES: dict[str, tuple[str, bytes]] = {
    "/json/price": (JSON, b'{"data": {"price": 0.7321, "unit": "CNY/kWh"}}'),
    "/em/carbon-intensity/latest": (
        JSON,
        b'{"zone":"NL","carbonIntensity":322,"datetime":"2026-07-15T04:00:00.000Z",'
        b'"updatedAt":"2026-07-15T03:32:21.002Z","emissionFactorType":"lifecycle",'
        b'"isEstimated":false,"estimationMethod":null}',
    ),
    "/em/price-day-ahead/latest": (
        JSON,
        b'{"zone":"NL","datetime":"2026-07-15T04:00:00.000Z","value":84.12,"unit":"EUR/MWh",'
        b'"source":"nordpool.com"}',
    ),
    "/entsoe/api": ("application/xml", a44()),
    "/vtn/events": (JSON, f"[{VTN_EVENT}]".encode()),
}
PROVIDER_PATHS = {
    "HTTPJSON": ["/json/price"],
    "ElectricityMaps": ["/em/carbon-intensity/latest", "/em/price-day-ahead/latest"],
    "ENTSOE": ["/entsoe/api"],
    "OpenADRPoll": ["/vtn/events"],
}


class Feeds(ThreadingHTTPServer):
    """The loopback feed server; ``mode`` per path: ok, error, timeout or malformed."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.mode: dict[str, str] = {}
        self.requests: list[tuple[str, str, dict[str, list[str]], dict[str, str]]] = []
        self.bodies: list[tuple[str, bytes]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    """Answers with the sample of the path, or with the failure its mode asks for."""

    server: Feeds

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError):  # the client gave up (the timeout case)
            self.wfile.write(body)

    def _answer(self, method: str) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        self.server.bodies.append((parts.path, raw))
        form = parse_qs(raw.decode()) if raw and not raw.startswith(b"{") else {}
        self.server.requests.append(
            (method, parts.path, parse_qs(parts.query) | form, dict(self.headers))
        )
        mode = self.server.mode.get(parts.path, "ok")
        if mode == "error":
            return self._send(503, "text/plain", b"service unavailable")
        if mode == "timeout":
            time.sleep(2)
        if parts.path == "/vtn/auth/server":
            token_url = json.dumps({"tokenURL": self.server.url + "/vtn/token"}).encode()
            return self._send(200, JSON, token_url)
        if (method, parts.path) in VTN:
            return self._send(*VTN[method, parts.path])
        content_type, body = SAMPLES.get(parts.path, ("text/plain", b""))
        if not body:
            return self._send(404, "text/plain", b"not found")
        if mode == "malformed":
            body = body[: len(body) // 2]
        return self._send(200, content_type, body)

    def do_GET(self) -> None:
        self._answer("GET")

    def do_POST(self) -> None:
        self._answer("POST")


@dataclass
class Env:
    """The hub, the ledger, the feed server."""

    fleet: Fleet
    api: client.ApiClient
    hub: HubClient
    database_url: str
    feeds: Feeds
    zones: list[str]
    ledger: Ledger

    def create_zone(self, spec: dict[str, Any]) -> str:
        name = f"feed-{uuid.uuid4().hex[:8]}"
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "GridZone",
            "metadata": {"name": name},
            "spec": {"signalTTLSeconds": TTL, **spec},
        }
        client.CustomObjectsApi(self.api).create_cluster_custom_object(
            GROUP, VERSION, "gridzones", body
        )
        self.zones.append(name)
        return name

    def status(self, name: str) -> dict[str, Any]:
        found = client.CustomObjectsApi(self.api).get_cluster_custom_object(
            GROUP, VERSION, "gridzones", name
        )
        return dict(found.get("status", {}))


@pytest.fixture(scope="module")
def env(fleet: Fleet, database_url: str) -> Iterator[Env]:
    """CRDs and the feeds' Secret in the hub, the ledger at head, the feed server running."""
    install_api(fleet)
    namespace = f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {NAMESPACE}}}\n"
    fleet.kubectl(HUB, "apply", "-f", "-", stdin=namespace)
    fleet.kubectl(HUB, "create", "secret", "generic", SECRET, "-n", NAMESPACE,
                  "--from-literal=em=em-token", "--from-literal=entsoe=entsoe-token",
                  "--from-literal=vtn=ven-1:ven-secret", "--from-literal=json=json-token")  # fmt: skip
    fleet.kubectl(HUB, "label", "secret", SECRET, "-n", NAMESPACE, f"{FEED_SECRET_LABEL}=true")
    upgrade_to_head(database_url)
    server = Feeds()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    api = client_from_file(fleet.kubeconfig(HUB))
    made = Env(fleet, api, HubClient(api), database_url, server, [], Ledger(database_url))
    yield made
    made.ledger.close()
    server.shutdown()
    server.server_close()
    for name in made.zones:
        fleet.kubectl(HUB, "delete", "gridzone", name, "--ignore-not-found", "--wait=false")
    fleet.kubectl(HUB, "delete", "secret", SECRET, "-n", NAMESPACE, "--ignore-not-found")


def ref(key: str) -> dict[str, str]:
    """A credentialsSecretRef to ``key`` of the feeds' Secret."""
    return {"name": SECRET, "namespace": NAMESPACE, "key": key}


def feed_spec(env: Env, provider: str) -> tuple[dict[str, Any], float]:
    """A zone spec with one feed of ``provider`` on the loopback server, and its price now."""
    base = env.feeds.url
    if provider == "HTTPJSON":
        feed = {
            "type": "HTTPJSON",
            "url": f"{base}/json/price",
            "valuePath": "data.price",
            "credentialsSecretRef": ref("json"),
        }
        return {"currency": "CNY", "priceFeeds": [feed]}, 0.7321
    if provider == "ElectricityMaps":
        feed = {
            "type": "ElectricityMaps",
            "url": f"{base}/em",
            "area": "NL",
            "credentialsSecretRef": ref("em"),
        }
        return {"currency": "EUR", "priceFeeds": [feed]}, 0.08412
    if provider == "ENTSOE":
        feed = {
            "type": "ENTSOE",
            "url": f"{base}/entsoe/api",
            "area": EIC,
            "credentialsSecretRef": ref("entsoe"),
        }
        return {"currency": "EUR", "priceFeeds": [feed]}, 0.09525
    feed = {
        "type": "OpenADRPoll",
        "url": f"{base}/vtn",
        "gridOperator": f"vtn-{RUN}",
        "credentialsSecretRef": ref("vtn"),
    }
    return {
        "currency": "CNY",
        "gridOperators": [f"vtn-{RUN}"],
        "openADR": {"venName": "gs", "targets": [f"feeds-{RUN}"]},
        "priceFeeds": [feed],
    }, 1.32


def assemble(env: Env, clock: Clock, http: httpx.AsyncClient, **settings: Any) -> Signals:
    """The signals package over the real ledger and hub, on ``clock``, feeds timing out at 0.5 s."""
    return build(
        Settings(feed_timeout_seconds=0.5, feed_allowed_hosts=("127.0.0.1",), **settings),
        ledger=env.ledger,
        hub=env.hub,
        http=http,
        leader=lambda: True,
        clock=clock,
    )


async def cycle(env: Env, signals: Signals, name: str) -> tuple[int, dict[str, Any]]:
    """Poll the zone's feed, reconcile the zone; (new signals, status in the hub)."""
    signals.service.zones.replace(
        z for z in await asyncio.to_thread(env.hub.list_zones) if z.name == name
    )
    accepted = await signals.service.poll(name, 0)
    (zone,) = signals.service.zones.all()
    await asyncio.to_thread(signals.processor.reconcile_zone, zone)
    return accepted, await asyncio.to_thread(env.status, name)


@pytest.mark.parametrize("failure", ["error", "timeout", "malformed"])
@pytest.mark.parametrize("provider", ["HTTPJSON", "ElectricityMaps", "ENTSOE", "OpenADRPoll"])
def test_feed_failure_ends_stale_after_ttl(env: Env, provider: str, failure: str) -> None:
    """Healthy poll sets the real price; after a failing feed outlives the TTL the zone is Stale."""
    spec, price = feed_spec(env, provider)
    name = env.create_zone(spec)
    clock = Clock(T0)

    async def main() -> list[tuple[int, dict[str, Any]]]:
        async with httpx.AsyncClient() as http:
            signals = assemble(env, clock, http)
            seen = [await cycle(env, signals, name)]
            for path in PROVIDER_PATHS[provider]:
                env.feeds.mode[path] = failure
            try:
                clock.now = T0 + timedelta(seconds=TTL // 2)
                seen.append(await cycle(env, signals, name))
                clock.now = T0 + timedelta(seconds=TTL + 1)
                seen.append(await cycle(env, signals, name))
            finally:
                env.feeds.mode.clear()
            return seen

    (first, healthy), (_, failing), (_, expired) = asyncio.run(main())
    assert first > 0
    assert healthy["pricePerKWh"] == pytest.approx(price)
    assert healthy["stale"] is False
    assert failing["stale"] is False, "still within the TTL"
    assert failing.get("pricePerKWh") == pytest.approx(price)
    assert expired["stale"] is True
    (cond,) = expired["conditions"]
    assert (cond["status"], cond["reason"]) == ("False", "Stale")
    words = {"error": "HTTP 503", "timeout": "timed out", "malformed": "not"}[failure]
    assert words in cond["message"], cond["message"]
    assert expired.get("pricePerKWh") in (None, pytest.approx(price)), "never a made-up price"


def test_providers_send_their_credentials_and_parameters(env: Env) -> None:
    """Electricity Maps gets auth-token and zone, ENTSO-E A44 with token, the VTN an OAuth2 bearer
    and a VEN registration."""
    env.feeds.requests.clear()
    for provider in ("ElectricityMaps", "ENTSOE", "OpenADRPoll"):
        spec, _ = feed_spec(env, provider)
        name = env.create_zone(spec)

        async def main(zone: str = name) -> None:
            async with httpx.AsyncClient() as http:
                await cycle(env, assemble(env, Clock(T0), http), zone)

        asyncio.run(main())
    by_path = {path: (query, headers) for _, path, query, headers in env.feeds.requests}
    query, headers = by_path["/em/carbon-intensity/latest"]
    assert (query["zone"], headers["auth-token"]) == (["NL"], "em-token")
    query, _ = by_path["/entsoe/api"]
    assert query["documentType"] == ["A44"]
    assert query["in_Domain"] == [EIC]
    assert query["securityToken"] == ["entsoe-token"]
    form, _ = by_path["/vtn/token"]
    assert form["grant_type"] == ["client_credentials"]
    assert form["client_id"] == ["ven-1"]
    query, headers = by_path["/vtn/events"]
    assert headers["Authorization"] == "Bearer jwt-feeds"
    assert "targets" not in query, "a 3.1 VTN filters by the VEN's targets itself"
    assert ("POST", "/vtn/vens") in {(m, p) for m, p, _, _ in env.feeds.requests}


def test_openadr_poll_subscribes_our_webhook_once(env: Env) -> None:
    """With a callback URL set, the first poll registers one subscription carrying our token."""
    spec, _ = feed_spec(env, "OpenADRPoll")
    name = env.create_zone(spec)
    env.feeds.requests.clear()

    async def main() -> None:
        async with httpx.AsyncClient() as http:
            signals = assemble(
                env,
                Clock(T0),
                http,
                openadr_callback_url="https://gridshift.example/openadr/callback",
            )
            signals.service.tokens.replace({f"vtn-{RUN}": Credentials(b"our-token")})
            await cycle(env, signals, name)
            await cycle(env, signals, name)

    asyncio.run(main())
    posts = [r for r in env.feeds.requests if r[0] == "POST" and r[1] == "/vtn/subscriptions"]
    assert len(posts) == 1


def test_time_of_use_from_the_shipped_dataset(env: Env) -> None:
    """A zone with gridZoneID CN-HB and no tariff: 12:10 Beijing is Hubei's midday valley at its price."""
    name = env.create_zone(
        {
            "gridZoneID": "CN-HB",
            "currency": "CNY",
            "priceFeeds": [{"type": "TimeOfUse", "pollIntervalSeconds": 300}],
        }
    )

    async def main() -> tuple[int, dict[str, Any]]:
        async with httpx.AsyncClient() as http:
            return await cycle(env, assemble(env, Clock(T0), http), name)

    accepted, status = asyncio.run(main())
    assert accepted > 0
    assert (status["touPeriod"], status["peakLevel"]) == ("Valley", 0)
    assert status["pricePerKWh"] == 0.432924
    assert any(p.get("peakLevel") == 2 for p in status["forecast"])


PLANTED = f"planted-{RUN}-s3cret"


def seen_anywhere(env: Env, text: str) -> bool:
    """Whether the feed server saw ``text`` in any request line, header or body."""
    for _, path, query, headers in env.feeds.requests:
        if text in path or text in str(query) or text in str(headers):
            return True
    return any(text.encode() in body for _, body in env.feeds.bodies)


def test_a_feed_reads_no_secret_that_is_not_labelled_for_feeds(env: Env) -> None:
    """A credentialsSecretRef to a Secret without gridshift.io/feed-credentials=true (the database
    URL, say) fails the poll with that reason, and the Secret's value is sent nowhere."""
    unlabelled = f"database-{RUN}"
    env.fleet.kubectl(HUB, "create", "secret", "generic", unlabelled, "-n", NAMESPACE,
                      f"--from-literal=url=postgresql://gs:{PLANTED}@db/gs")  # fmt: skip
    feed = {
        "type": "HTTPJSON",
        "url": f"{env.feeds.url}/json/price",
        "valuePath": "data.price",
        "credentialsSecretRef": {"name": unlabelled, "namespace": NAMESPACE, "key": "url"},
    }
    name = env.create_zone({"currency": "CNY", "priceFeeds": [feed]})
    env.feeds.requests.clear()
    env.feeds.bodies.clear()

    async def main() -> tuple[int, dict[str, Any]]:
        async with httpx.AsyncClient() as http:
            return await cycle(env, assemble(env, Clock(T0), http), name)

    try:
        accepted, status = asyncio.run(main())
    finally:
        env.fleet.kubectl(HUB, "delete", "secret", unlabelled, "-n", NAMESPACE)
    assert accepted == 0
    assert env.feeds.requests == []
    assert not seen_anywhere(env, PLANTED)
    (cond,) = status["conditions"]
    assert "not labelled gridshift.io/feed-credentials=true" in cond["message"]
    assert PLANTED not in json.dumps(status)


def test_a_feed_host_off_the_allow_list_is_never_called(env: Env) -> None:
    """With the loopback host not allowed, a poll fails before any request, saying what to set."""
    spec, _ = feed_spec(env, "HTTPJSON")
    name = env.create_zone(spec)
    env.feeds.requests.clear()

    async def main() -> tuple[int, dict[str, Any]]:
        async with httpx.AsyncClient() as http:
            signals = build(
                Settings(feed_timeout_seconds=0.5, feed_allowed_hosts=("prices.example",)),
                ledger=env.ledger,
                hub=env.hub,
                http=http,
                leader=lambda: True,
                clock=Clock(T0),
            )
            return await cycle(env, signals, name)

    accepted, status = asyncio.run(main())
    assert accepted == 0
    assert env.feeds.requests == []
    (cond,) = status["conditions"]
    assert "not in GRIDSHIFT_FEED_ALLOWED_HOSTS" in cond["message"]


def test_the_vtn_is_given_only_its_bound_operators_token(env: Env) -> None:
    """The zone lists two grid operators; its OpenADRPoll feed is bound to one. The subscription
    carries that operator's webhook token, never the other's (``area`` chooses nothing)."""
    spec, _ = feed_spec(env, "OpenADRPoll")
    other = f"other-{RUN}"
    spec["gridOperators"] = [other, f"vtn-{RUN}"]
    spec["priceFeeds"][0]["area"] = other
    name = env.create_zone(spec)
    env.feeds.requests.clear()
    env.feeds.bodies.clear()

    async def main() -> None:
        async with httpx.AsyncClient() as http:
            signals = assemble(
                env,
                Clock(T0),
                http,
                openadr_callback_url="https://gridshift.example/openadr/callback",
            )
            signals.service.tokens.replace(
                {f"vtn-{RUN}": Credentials(b"bound-token"), other: Credentials(PLANTED.encode())}
            )
            await cycle(env, signals, name)

    asyncio.run(main())
    posted = [body for path, body in env.feeds.bodies if path == "/vtn/subscriptions" and body]
    assert len(posted) == 1
    assert b"bound-token" in posted[0]
    assert not seen_anywhere(env, PLANTED)


@pytest.mark.parametrize(
    ("feed", "words"),
    [
        ({"type": "OpenADRPoll", "url": "https://vtn.example"}, "needs a gridOperator"),
        (
            {"type": "OpenADRPoll", "url": "https://vtn.example", "gridOperator": "stranger"},
            "needs a gridOperator",
        ),
    ],
)
def test_the_api_server_refuses_a_vtn_not_bound_to_a_listed_operator(
    env: Env, feed: dict[str, Any], words: str
) -> None:
    """An OpenADRPoll feed without gridOperator, or naming one the zone does not list, is
    refused by the API server's validation (CEL), before gridshift ever reads it."""
    with pytest.raises(client.ApiException) as refused:
        env.create_zone({"gridOperators": [f"vtn-{RUN}"], "priceFeeds": [feed]})
    assert refused.value.status == 422
    assert words in str(refused.value.body)


def test_planted_credentials_stay_out_of_logs_and_zone_status(env: Env) -> None:
    """An ENTSO-E token (sent in the query) and an HTTP JSON key in the feed URL, both failing:
    neither appears in any log line (httpx included) nor in the zone's status."""
    env.fleet.kubectl(HUB, "create", "secret", "generic", f"planted-{RUN}", "-n", NAMESPACE,
                      f"--from-literal=token={PLANTED}")  # fmt: skip
    env.fleet.kubectl(HUB, "label", "secret", f"planted-{RUN}", "-n", NAMESPACE,
                      f"{FEED_SECRET_LABEL}=true")  # fmt: skip
    planted_ref = {"name": f"planted-{RUN}", "namespace": NAMESPACE, "key": "token"}
    entsoe = env.create_zone(
        {"currency": "EUR", "priceFeeds": [{"type": "ENTSOE", "url": f"{env.feeds.url}/entsoe/api",
                                            "area": EIC, "credentialsSecretRef": planted_ref}]}
    )  # fmt: skip
    keyed = env.create_zone(
        {"currency": "CNY", "priceFeeds": [{"type": "HTTPJSON", "valuePath": "data.price",
                                            "url": f"{env.feeds.url}/json/price?apikey={PLANTED}"}]}
    )  # fmt: skip
    stream = io.StringIO()
    configure(level="DEBUG", stream=stream)
    env.feeds.mode.update({"/entsoe/api": "error", "/json/price": "error"})

    async def main() -> list[dict[str, Any]]:
        async with httpx.AsyncClient() as http:
            signals = assemble(env, Clock(T0), http)
            found = []
            for name in (entsoe, keyed):
                found.append((await cycle(env, signals, name))[1])
            return found

    try:
        statuses = asyncio.run(main())
    finally:
        env.feeds.mode.clear()
        configure(level="WARNING")
        env.fleet.kubectl(HUB, "delete", "secret", f"planted-{RUN}", "-n", NAMESPACE)
    assert seen_anywhere(env, PLANTED), "the feeds were sent their credentials"
    written = stream.getvalue()
    assert "HTTP 503" in written
    assert PLANTED not in written
    for status in statuses:
        assert "HTTP 503" in json.dumps(status)
        assert PLANTED not in json.dumps(status)
    assert "apikey=***" in json.dumps(statuses[1]), "the feed's URL is shown, masked"

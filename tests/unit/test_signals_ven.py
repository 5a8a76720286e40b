"""gridshift as a VEN: registration, program names, which events apply (edge cases over
httpx.MockTransport; the real VTN is in tests/integration/test_openadr_vtn.py)."""

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
from orchestrator.signals.directory import UnknownZoneError, ZoneDirectory
from orchestrator.signals.openadr import Event, Notification, Program
from orchestrator.signals.openadr_client import ClientCredentials, VtnClient, VtnRefusedError
from orchestrator.signals.openadr_mqtt import broker_address
from orchestrator.signals.openadr_ven import Vens, applies, resolve_programs

NOW = datetime(2026, 7, 15, 4, 10, tzinfo=UTC)


@dataclass(frozen=True)
class Zone:
    name: str
    generation: int | None
    spec: GridZoneSpec
    status: GridZoneStatus | None = None


def zone(binding: dict[str, Any], version_feed: dict[str, Any] | None = None) -> Zone:
    feed = {
        "type": "OpenADRPoll",
        "url": "http://vtn.test",
        "pollIntervalSeconds": 10,
        "credentialsSecretRef": {"namespace": "gs", "name": "vtn", "key": "creds"},
        "gridOperator": "sgcc-sh",
        **(version_feed or {}),
    }
    spec = GridZoneSpec.model_validate(
        {"gridOperators": ["sgcc-sh"], "openADR": binding, "priceFeeds": [feed]}
    )
    return Zone("shanghai", 1, spec)


def event(event_id: str, program: str, targets: list[str] | None = None) -> dict[str, Any]:
    return {
        "id": event_id,
        "programID": program,
        "targets": targets,
        "intervalPeriod": {"start": "2026-07-15T04:00:00Z", "duration": "PT1H"},
        "intervals": [{"id": 0, "payloads": [{"type": "SIMPLE", "values": [2]}]}],
    }


class Vtn:
    """A VTN with one VEN client: its VEN objects, programs and events."""

    def __init__(self, *, vens: list[dict[str, Any]], events: list[dict[str, Any]]) -> None:
        self.vens = vens
        self.events = events
        self.programs = [
            {"id": "p-1", "programName": "sh-peak"},
            {"id": "p-2", "programName": "other"},
        ]
        self.calls: list[tuple[str, str, dict[str, list[str]], Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path, method = request.url.path, request.method
        query: dict[str, list[str]] = {}
        for key, value in request.url.params.multi_items():
            query.setdefault(key, []).append(value)
        body = json.loads(request.content) if request.content and path != "/token" else None
        self.calls.append((method, path, query, body))
        if path == "/auth/server":
            return httpx.Response(200, json={"tokenURL": "http://vtn.test/token"})
        if path == "/token":
            return httpx.Response(200, json={"access_token": "jwt", "expires_in": 3600})
        if path == "/vens" and method == "GET":
            return httpx.Response(200, json=self.vens)
        if path == "/vens" and method == "POST":
            self.vens.append({"id": "ven-1", "targets": [], **body})
            return httpx.Response(201, json=self.vens[-1])
        if path.startswith("/vens/") and method == "PUT":
            self.vens[0] = {**self.vens[0], **body}
            return httpx.Response(200, json=self.vens[0])
        if path == "/programs":
            return httpx.Response(200, json=self.programs)
        if path == "/events":
            wanted = query.get("programID", [None])[0]
            return httpx.Response(
                200, json=[e for e in self.events if wanted in (None, e["programID"])]
            )
        return httpx.Response(404)


def run(vtn: Vtn, work: Callable[[Vens], Any]) -> Any:
    def secrets(ref: SecretKeyRef) -> str:
        return "ven-client:secret"

    async def main() -> Any:
        async with httpx.AsyncClient(transport=httpx.MockTransport(vtn)) as http:
            return await work(Vens(http=http, secrets=secrets))

    return asyncio.run(main())


def first_feed(z: Zone) -> PriceFeed:
    return z.spec.price_feeds[0]


def test_program_names_resolve_to_ids_and_missing_ones_are_named() -> None:
    """Names match exactly; the names no program has come back in order."""
    programs = [
        Program.model_validate({"id": "p-1", "programName": "a"}),
        Program.model_validate({"id": "p-2", "programName": "b"}),
    ]
    assert resolve_programs(programs, ["b", "x", "a", "y"]) == (
        {"b": "p-2", "a": "p-1"},
        ["x", "y"],
    )


@pytest.mark.parametrize(
    ("targets", "expected"),
    [(None, True), ([], True), (["CN-SH"], True), (["CN-HB"], False), (["CN-HB", "CN-SH"], True)],
)
def test_an_event_applies_untargeted_or_sharing_a_target(
    targets: list[str] | None, expected: bool
) -> None:
    """Untargeted events apply to every zone of the program; targeted ones when a target is ours."""
    assert applies(Event.model_validate(event("e", "p", targets)), ["CN-SH", "lingang"]) is expected


def test_first_poll_registers_the_ven_resolves_the_program_and_asks_without_targets() -> None:
    """3.1: POST /vens carries the name only (the VTN's operator assigns targets), events are
    asked per program id, never filtered by targets; another program's events are not asked."""
    vtn = Vtn(
        vens=[],
        events=[
            event("untargeted", "p-1"),
            event("ours", "p-1", ["CN-SH"]),
            event("elsewhere", "p-1", ["CN-HB"]),
            event("other-program", "p-2"),
        ],
    )
    z = zone({"venName": "gridshift-sh", "programNames": ["sh-peak"], "targets": ["CN-SH"]})
    found = run(vtn, lambda vens: vens.events(z, first_feed(z)))
    assert sorted(e.id for e in found) == ["ours", "untargeted"]
    posts = [c for c in vtn.calls if c[:2] == ("POST", "/vens")]
    assert [c[3] for c in posts] == [{"objectType": "VEN_VEN_REQUEST", "venName": "gridshift-sh"}]
    asked = [c[2] for c in vtn.calls if c[1] == "/events"]
    assert asked == [{"skip": ["0"], "limit": ["50"], "programID": ["p-1"]}]


def test_the_ven_is_registered_once_and_renamed_when_the_binding_changes() -> None:
    """A second poll finds our VEN; a new venName renames the client's one VEN object (PUT)."""
    vtn = Vtn(vens=[], events=[])
    z = zone({"venName": "gridshift-sh", "targets": ["CN-SH"]})
    renamed = zone({"venName": "gridshift-shanghai", "targets": ["CN-SH"]})

    async def work(vens: Vens) -> None:
        await vens.events(z, first_feed(z))
        await vens.events(z, first_feed(z))
        await vens.events(renamed, first_feed(renamed))

    run(vtn, work)
    writes = [(c[0], c[1]) for c in vtn.calls if c[0] in ("POST", "PUT") and "/vens" in c[1]]
    assert writes == [("POST", "/vens"), ("PUT", "/vens/ven-1")]
    assert vtn.vens[0]["venName"] == "gridshift-shanghai"


def test_an_unassigned_target_is_still_matched_from_the_binding() -> None:
    """Targets the VTN did not assign to the VEN still select events a VTN shows anyway."""
    vtn = Vtn(
        vens=[{"id": "ven-1", "venName": "gs", "targets": ["lingang"]}],
        events=[event("a", "p-1", ["CN-SH"]), event("b", "p-1", ["lingang"])],
    )
    z = zone({"venName": "gs", "targets": ["CN-SH"]})
    found = run(vtn, lambda vens: vens.events(z, first_feed(z)))
    assert sorted(e.id for e in found) == ["a", "b"]


def test_version_301_sets_its_own_targets() -> None:
    """version 3.0.1: the VEN object carries the binding's targets, updated when they change."""
    vtn = Vtn(vens=[{"id": "ven-1", "venName": "gs", "targets": ["old"]}], events=[])
    z = zone({"venName": "gs", "targets": ["CN-SH"], "version": "3.0.1"})
    run(vtn, lambda vens: vens.events(z, first_feed(z)))
    assert vtn.vens[0]["targets"] == ["CN-SH"]


def test_a_given_token_url_is_used_without_discovery() -> None:
    """tokenURL in the binding: no GET /auth/server."""
    vtn = Vtn(vens=[], events=[])
    z = zone({"venName": "gs", "tokenURL": "http://vtn.test/token"})
    run(vtn, lambda vens: vens.events(z, first_feed(z)))
    paths = [c[1] for c in vtn.calls]
    assert "/auth/server" not in paths
    assert paths[0] == "/token"


def test_no_configured_program_at_the_vtn_is_an_error() -> None:
    """programNames that the VTN does not show: a SignalError naming them (the zone shows it)."""
    vtn = Vtn(vens=[], events=[event("a", "p-1")])
    z = zone({"venName": "gs", "programNames": ["nope"]})
    with pytest.raises(SignalError, match="no program named nope"):
        run(vtn, lambda vens: vens.events(z, first_feed(z)))


def test_fast_polls_are_for_openadr_only() -> None:
    """pollIntervalSeconds 10 is fine for OpenADRPoll, refused for any other feed."""
    assert PriceFeed.model_validate({"type": "OpenADRPoll", "pollIntervalSeconds": 10})
    with pytest.raises(ValueError, match="OpenADRPoll feeds only"):
        PriceFeed.model_validate({"type": "HTTPJSON", "pollIntervalSeconds": 10})


def test_an_event_gone_from_the_vtn_is_cancelled_once() -> None:
    """Shown on one poll, missing from the next: one cancellation signal, not repeated."""
    capped = event("cap", "p-1")
    capped["intervals"] = [
        {"id": 0, "payloads": [{"type": "IMPORT_CAPACITY_LIMIT", "values": [800]}]}
    ]
    vtn = Vtn(vens=[], events=[capped])
    z = zone({"venName": "gs"})

    async def work(vens: Vens) -> list[list[Any]]:
        rounds = [await vens.poll(z, first_feed(z), NOW)]
        vtn.events.clear()
        rounds.append(await vens.poll(z, first_feed(z), NOW))
        rounds.append(await vens.poll(z, first_feed(z), NOW))
        return rounds

    first, second, third = run(vtn, work)
    assert [s.order.kw for s in first if s.order] == [800.0]
    assert [(s.event, s.order.cancelled) for s in second if s.order] == [("cap", True)]
    assert third == []


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("mqtt://10.0.0.2:1883", ("10.0.0.2", 1883, False)),
        ("tcp://broker", ("broker", 1883, False)),
        ("mqtts://broker.example", ("broker.example", 8883, True)),
        ("ssl://broker:9000", ("broker", 9000, True)),
    ],
)
def test_broker_uris(uri: str, expected: tuple[str, int, bool]) -> None:
    """mqtt/tcp are plain (1883), mqtts/ssl are TLS (8883) unless a port is given."""
    assert broker_address(uri) == expected


def test_a_broker_uri_without_mqtt_scheme_is_an_error() -> None:
    """A websocket or HTTP URI is not something the subscriber can use."""
    with pytest.raises(SignalError, match="is not mqtt"):
        broker_address("ws://broker:80/mqtt")


def test_notifications_follow_the_poll_rules() -> None:
    """A notification of another program or another target gives nothing; one for the zone
    gives its DR order; a DELETE of an event the zone had gives its cancellation, and a DELETE
    of an event the zone never had gives nothing."""
    vtn = Vtn(vens=[], events=[])
    z = zone({"venName": "gs", "programNames": ["sh-peak"], "targets": ["CN-SH"]})

    def note(operation: str, body: dict[str, Any]) -> Notification:
        body["intervals"] = [
            {"id": 0, "payloads": [{"type": "IMPORT_CAPACITY_LIMIT", "values": [500]}]}
        ]
        return Notification.model_validate(
            {"objectType": "EVENT", "operation": operation, "object": body}
        )

    async def work(vens: Vens) -> list[list[Any]]:
        await vens.events(z, first_feed(z))
        return [
            await vens.notified(z, first_feed(z), n, NOW)
            for n in (
                note("CREATE", event("other-program", "p-2")),
                note("CREATE", event("elsewhere", "p-1", ["CN-HB"])),
                note("CREATE", event("ours", "p-1", ["CN-SH"])),
                note("DELETE", event("ours", "p-1", ["CN-SH"])),
                note("DELETE", event("never", "p-1", ["CN-HB"])),
            )
        ]

    other, elsewhere, ours, deleted, never = run(vtn, work)
    assert (other, elsewhere, never) == ([], [], [])
    assert [s.order.kw for s in ours if s.order] == [500.0]
    assert [s.order.cancelled for s in deleted if s.order] == [True]


@pytest.mark.parametrize(
    ("status", "refused"), [(409, True), (400, True), (401, False), (429, False)]
)
def test_only_answers_about_the_request_are_refusals(status: int, refused: bool) -> None:
    """409 or 400: the VTN will never take this report (VtnRefusedError); 401 (after one fresh
    token) or 429: a plain SignalError, worth trying again later."""
    tokens: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            tokens.append("t")
            return httpx.Response(200, json={"access_token": f"jwt-{len(tokens)}"})
        return httpx.Response(status, json={"title": "no"})

    async def work(http: httpx.AsyncClient) -> None:
        client = VtnClient(
            "http://vtn.test",
            credentials=ClientCredentials("ven", "secret"),
            http=http,
            token_url="http://vtn.test/token",
        )
        await client.post_report({"eventID": "e"})

    async def main() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            await work(http)

    with pytest.raises(SignalError) as raised:
        asyncio.run(main())
    assert isinstance(raised.value, VtnRefusedError) is refused
    assert len(tokens) == (2 if status == 401 else 1), "a 401 gets exactly one fresh token"


def test_the_webhook_path_knows_a_program_by_its_vtn_id() -> None:
    """An untargeted event names its program by id: the zone whose programNames hold that
    program's name answers once the VEN resolved it; before, only a literal match does."""
    directory = ZoneDirectory([zone({"venName": "gs", "programNames": ["sh-peak"]})])
    with pytest.raises(UnknownZoneError):
        directory.for_openadr([], "p-1", operator="sgcc-sh")
    assert directory.for_openadr([], "sh-peak", operator="sgcc-sh") == ["shanghai"]
    directory.note_programs("shanghai", ["p-1"])
    assert directory.for_openadr([], "p-1", operator="sgcc-sh") == ["shanghai"]
    with pytest.raises(UnknownZoneError):
        directory.for_openadr([], "p-2", operator="sgcc-sh")

"""What feeds may call and what they may read: the host allow-list, link-local and metadata
addresses refused, bodies bounded while they stream, and credentials kept out of logs and status.

Over ``httpx.MockTransport``; the resolver is a parameter, so name resolution is played here.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from orchestrator.api.common import SecretKeyRef
from orchestrator.api.gridzone import GridZoneSpec, GridZoneStatus, PriceFeed
from orchestrator.errors import SignalError
from orchestrator.logs import configure, redact
from orchestrator.signals.feeds import MAX_BODY, FeedPoller
from orchestrator.signals.openadr_client import ClientCredentials, VtnClient
from orchestrator.signals.outbound import Outbound

NOW = datetime(2026, 7, 15, 4, 10, tzinfo=UTC)
PLANTED = "planted-s3cret-7f3a"


@dataclass(frozen=True)
class Zone:
    name: str
    generation: int | None
    spec: GridZoneSpec
    status: GridZoneStatus | None = None


def resolving(*addresses: str) -> Callable[[str, int], Any]:
    async def resolve(host: str, port: int) -> list[str]:
        return list(addresses)

    return resolve


def check(url: str, allowed: list[str], *addresses: str) -> None:
    asyncio.run(Outbound(allowed, resolver=resolving(*(addresses or ("192.0.2.1",)))).check(url))


@pytest.mark.parametrize(
    ("url", "allowed", "words"),
    [
        ("https://evil.example/steal", ["prices.example"], "not in GRIDSHIFT_FEED_ALLOWED_HOSTS"),
        ("https://prices.example.evil/x", ["prices.example"], "not in"),
        ("https://example/x", ["*.example"], "not in"),
        ("http://169.254.169.254/latest/meta-data/", ["169.254.169.254"], "link-local"),
        ("http://[fe80::1]/", ["fe80::1"], "link-local"),
        ("http://metadata.google.internal/computeMetadata/v1/", ["*.internal"], "metadata"),
        ("http://[fd00:ec2::254]/", ["*"], "metadata"),
        ("http://0.0.0.0:8080/", ["0.0.0.0"], "link-local or metadata"),  # noqa: S104
        ("ftp://prices.example/x", ["prices.example"], "http:// or https://"),
        ("http:///nohost", ["prices.example"], "with a host"),
    ],
)
def test_a_feed_url_off_the_allow_list_or_link_local_is_refused(
    url: str, allowed: list[str], words: str
) -> None:
    """Hosts not on the allow-list, and link-local or metadata addresses even when listed."""
    with pytest.raises(SignalError, match=words):
        check(url, allowed)


def test_a_listed_host_that_resolves_to_link_local_is_refused() -> None:
    """DNS pointing an allowed name at the metadata address does not open it."""
    with pytest.raises(SignalError, match=r"resolves to 169\.254\.169\.254"):
        check("https://prices.example/x", ["prices.example"], "203.0.113.5", "169.254.169.254")
    with pytest.raises(SignalError, match=r"resolves to ::ffff:169\.254\.1\.1"):
        check("https://prices.example/x", ["prices.example"], "::ffff:169.254.1.1")


def test_listed_hosts_and_subdomains_are_allowed() -> None:
    """Exact names and ``*.domain`` (any name under it, not the domain itself) pass."""
    check("https://prices.example/x", ["prices.example"])
    check("https://a.b.grid.example:8443/x", ["*.grid.example"])
    check("http://127.0.0.1:9000/x", ["127.0.0.1"], "127.0.0.1")


def poller(http: httpx.AsyncClient, allowed: list[str]) -> FeedPoller:
    def secrets(ref: SecretKeyRef) -> str:
        return PLANTED

    return FeedPoller(
        http=http,
        secrets=secrets,
        clock=lambda: NOW,
        outbound=Outbound(allowed, resolver=resolving("192.0.2.1")),
    )


def test_no_request_and_no_secret_leaves_for_a_refused_host() -> None:
    """A feed whose url is off the list fails before any request: its Secret goes nowhere."""
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"p": 1})

    feed = PriceFeed.model_validate(
        {
            "type": "HTTPJSON",
            "url": "https://collector.evil/p",
            "valuePath": "p",
            "credentialsSecretRef": {"name": "db", "namespace": "gridshift-system", "key": "url"},
        }
    )
    zone = Zone("z", 1, GridZoneSpec.model_validate({}))

    async def main() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handle)) as http:
            await poller(http, ["prices.example"]).poll(zone, feed)

    with pytest.raises(SignalError, match=r"collector\.evil is not in"):
        asyncio.run(main())
    assert seen == []


def test_a_vtn_token_url_pointing_at_metadata_is_never_called() -> None:
    """The VTN names its token URL; one at the metadata address gets no client secret."""
    seen: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json={"tokenURL": "http://169.254.169.254/token"})

    async def main() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handle)) as http:
            outbound = Outbound(["vtn.example"], resolver=resolving("192.0.2.1"))
            vtn = VtnClient(
                "https://vtn.example",
                credentials=ClientCredentials("ven", PLANTED),
                http=http,
                check=outbound.check,
            )
            await vtn.events(targets=[])

    with pytest.raises(SignalError, match="link-local"):
        asyncio.run(main())
    assert seen == ["https://vtn.example/auth/server"]


def test_a_feed_answer_over_8_mib_is_abandoned_while_it_streams() -> None:
    """An endless answer is read only up to the limit: the poll fails, the rest is never read."""
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        chunk = b"9" * 65536
        while sent < 64 * MAX_BODY:
            sent += len(chunk)
            yield chunk

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=endless())

    feed = PriceFeed.model_validate(
        {"type": "HTTPJSON", "url": "https://prices.example/p", "valuePath": "p"}
    )
    zone = Zone("z", 1, GridZoneSpec.model_validate({}))

    async def main() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handle)) as http:
            await poller(http, ["prices.example"]).poll(zone, feed)

    with pytest.raises(SignalError, match="larger than 8388608 bytes"):
        asyncio.run(main())
    assert MAX_BODY < sent <= MAX_BODY + 2 * 65536


def test_a_declared_length_over_8_mib_is_refused_before_reading() -> None:
    """Content-Length over the limit fails the poll without reading the body."""

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Length": str(MAX_BODY + 1)}, content=b"{}")

    feed = PriceFeed.model_validate(
        {"type": "HTTPJSON", "url": "https://prices.example/p", "valuePath": "p"}
    )

    async def main() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handle)) as http:
            await poller(http, ["prices.example"]).poll(Zone("z", 1, GridZoneSpec()), feed)

    with pytest.raises(SignalError, match="larger than"):
        asyncio.run(main())


@pytest.mark.parametrize(
    "text",
    [
        f"GET https://web-api.tp.entsoe.eu/api?documentType=A44&securityToken={PLANTED}",
        f"postgresql+psycopg://gridshift:{PLANTED}@db:5432/gridshift",
        f"Authorization: Bearer {PLANTED}",
        f"https://feed/p?api_key={PLANTED}&x=1",
        f"https://feed/p?access_token={PLANTED}",
        f"https://feed/p?client_secret={PLANTED}",
    ],
)
def test_redact_masks_planted_credentials(text: str) -> None:
    """URL passwords, bearer tokens and secret-named query parameters are masked."""
    masked = redact(text)
    assert PLANTED not in masked
    assert "***" in masked


def test_httpx_request_lines_and_messages_never_log_a_planted_secret() -> None:
    """With gridshift's logging, a feed poll's request URL (httpx INFO) and any message that
    carries a credential are written without it."""
    stream = io.StringIO()
    configure(level="DEBUG", stream=stream)
    try:

        def handle(request: httpx.Request) -> httpx.Response:
            return httpx.Response(503)

        feed = PriceFeed.model_validate(
            {
                "type": "ENTSOE",
                "url": "https://prices.example/api",
                "area": "10Y1001A1001A82H",
                "credentialsSecretRef": {"name": "s", "namespace": "n", "key": "k"},
            }
        )

        async def main() -> None:
            async with httpx.AsyncClient(transport=httpx.MockTransport(handle)) as http:
                await poller(http, ["prices.example"]).poll(Zone("z", 1, GridZoneSpec()), feed)

        with pytest.raises(SignalError) as raised:
            asyncio.run(main())
        assert PLANTED not in str(raised.value)
        log = logging.getLogger("orchestrator.test")
        log.warning("feed failed url=%s", f"https://x/?securityToken={PLANTED}")
        try:
            raise RuntimeError(f"Bearer {PLANTED}")
        except RuntimeError:
            log.exception("crashed")
    finally:
        configure(level="WARNING")
    written = stream.getvalue()
    assert "feed failed" in written
    assert "crashed" in written
    assert PLANTED not in written


def test_a_vtn_answer_over_8_mib_is_abandoned_while_it_streams() -> None:
    """A VTN's endless ``GET /events`` answer is cut at the limit, as a feed's is."""
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        while sent < 64 * MAX_BODY:
            sent += 65536
            yield b" " * 65536

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=endless())

    async def main() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handle)) as http:
            vtn = VtnClient("https://vtn.example", credentials=None, http=http)
            await vtn.events(targets=[])

    with pytest.raises(SignalError, match="larger than 8388608 bytes"):
        asyncio.run(main())
    assert sent <= MAX_BODY + 2 * 65536


def test_a_vtn_4xx_for_an_event_reads_as_gone() -> None:
    """``event_document`` of an event the VTN answers 404 for is None; a 5xx stays an error."""

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404 if request.url.path.endswith("/gone") else 503)

    async def main(event: str) -> Any:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handle)) as http:
            return await VtnClient(
                "https://vtn.example", credentials=None, http=http
            ).event_document(event)

    assert asyncio.run(main("gone")) is None
    with pytest.raises(SignalError, match="HTTP 503"):
        asyncio.run(main("broken"))

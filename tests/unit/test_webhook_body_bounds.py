"""The webhook's body bounds: cut-off bodies are never processed, slow bodies time out, and only
so many bodies are received at once. Driven through the ASGI interface, with the clock real."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from orchestrator.signals.webhook import BodyLimit

Message = dict[str, Any]


class Inner:
    """The app behind the middleware: records the bodies it was handed."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        message = await receive()
        self.bodies.append(message["body"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


def scope(length: int | None = None) -> dict[str, Any]:
    """A POST; without a length it is sent chunked (a body of unknown size)."""
    headers = (
        [(b"transfer-encoding", b"chunked")]
        if length is None
        else [(b"content-length", str(length).encode())]
    )
    return {"type": "http", "method": "POST", "path": "/v1/signals", "headers": headers}


async def call(app: BodyLimit, messages: list[Message], *, stall: bool = False, **kw: Any) -> Any:
    """Run one request; ``messages`` are what the client sends; ``stall``: then nothing more."""
    queue = list(messages)
    sent: list[Message] = []

    async def receive() -> Message:
        if queue:
            return queue.pop(0)
        if stall:
            await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope(**kw), receive, send)
    status = next((m["status"] for m in sent if m["type"] == "http.response.start"), None)
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, json.loads(body) if body else None


def part(body: bytes, more: bool) -> Message:
    return {"type": "http.request", "body": body, "more_body": more}


def test_a_body_cut_off_by_a_disconnect_is_never_processed() -> None:
    """Half a body, then the client leaves: the app is not called and nothing is answered."""
    inner = Inner()
    app = BodyLimit(inner, limit=1024)
    status, _ = asyncio.run(
        call(app, [part(b'{"signals": [', True), {"type": "http.disconnect"}], length=40)
    )
    assert status is None
    assert inner.bodies == []
    assert app.reading == 0


def test_a_whole_body_in_parts_reaches_the_app_once_complete() -> None:
    """Chunks that end with more_body false are joined and handed over whole."""
    inner = Inner()
    status, _ = asyncio.run(
        call(BodyLimit(inner, limit=1024), [part(b"ab", True), part(b"c", False)])
    )
    assert status == 200
    assert inner.bodies == [b"abc"]


def test_a_body_not_complete_in_time_is_answered_408() -> None:
    """A sender that stalls mid-body is answered 408 after read_seconds; the app never runs."""
    inner = Inner()
    started = time.monotonic()
    status, answer = asyncio.run(
        call(BodyLimit(inner, limit=1024, read_seconds=0.3), [part(b"{", True)], stall=True)
    )
    assert status == 408
    assert "did not arrive within 0.3 s" in answer["detail"]
    assert time.monotonic() - started < 2
    assert inner.bodies == []


def test_more_concurrent_bodies_than_allowed_are_answered_503_at_once() -> None:
    """With two slow bodies arriving, a third request is refused at once with Retry-After; once
    they are gone, requests are taken again."""
    inner = Inner()
    app = BodyLimit(inner, limit=1024, read_seconds=0.5, max_concurrent=2)

    async def scenario() -> list[Any]:
        slow = [asyncio.create_task(call(app, [part(b"{", True)], stall=True)) for _ in range(2)]
        await asyncio.sleep(0.05)
        assert app.reading == 2
        started = time.monotonic()
        refused = await call(app, [part(b"{}", False)])
        assert time.monotonic() - started < 0.1
        stalled = await asyncio.gather(*slow)
        after = await call(app, [part(b"{}", False)])
        return [refused, *stalled, after]

    refused, first, second, after = asyncio.run(scenario())
    assert refused[0] == 503
    assert "more than 2 request bodies" in refused[1]["detail"]
    assert (first[0], second[0]) == (408, 408)
    assert after[0] == 200
    assert app.reading == 0


def test_a_request_without_a_body_is_never_turned_away() -> None:
    """With every body slot held, a GET without a body (a probe) is still answered."""
    inner = Inner()
    app = BodyLimit(inner, limit=1024, read_seconds=0.5, max_concurrent=1)

    async def scenario() -> Any:
        slow = asyncio.create_task(call(app, [part(b"{", True)], stall=True))
        await asyncio.sleep(0.05)
        sent: list[Message] = []

        async def receive() -> Message:
            return part(b"", False)

        async def send(message: Message) -> None:
            sent.append(message)

        await app(
            {"type": "http", "method": "GET", "path": "/healthz", "headers": []}, receive, send
        )
        await slow
        return sent[0]["status"]

    assert asyncio.run(scenario()) == 200


@pytest.mark.parametrize("declared", [b"2000", b"12a", "²".encode()])
def test_a_declared_length_over_the_limit_or_not_a_number_is_413(declared: bytes) -> None:
    """Content-Length over the limit, or not ASCII digits, is refused before reading."""
    inner = Inner()

    async def run() -> Any:
        sent: list[Message] = []

        async def receive() -> Message:
            raise AssertionError("the body must not be read")

        async def send(message: Message) -> None:
            sent.append(message)

        headers = [(b"content-length", declared)]
        await BodyLimit(inner, limit=1024)(
            {"type": "http", "path": "/v1/signals", "headers": headers}, receive, send
        )
        return sent[0]["status"]

    assert asyncio.run(run()) == 413

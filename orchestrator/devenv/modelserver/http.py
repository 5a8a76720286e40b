"""Just enough HTTP/1.1 for the model server, on asyncio streams: requests in, responses out.

Requests: a request line, at most ``MAX_HEADERS`` headers, a body of ``Content-Length`` bytes (at
most ``MAX_BODY``). A chunked request body is refused (411): the OpenAI clients send a length.
Responses: a whole body with ``Content-Length``, or a chunked stream (server-sent events).
Keep-alive follows HTTP/1.1 (on unless ``Connection: close``; off for HTTP/1.0 unless asked).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass

MAX_HEADERS = 100
MAX_BODY = 1 << 20
REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    411: "Length Required",
    413: "Content Too Large",
    431: "Request Header Fields Too Large",
    503: "Service Unavailable",
}


class BadRequest(Exception):
    """The bytes received are not a request we take; answer ``status`` and close."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Request:
    """One parsed request."""

    method: str
    path: str
    version: str
    headers: Mapping[str, str]
    body: bytes

    @property
    def keep_alive(self) -> bool:
        """Whether the client wants the connection kept open after the answer."""
        connection = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.0":
            return "keep-alive" in connection
        return "close" not in connection


async def read_request(reader: asyncio.StreamReader) -> Request | None:
    """The next request on the connection; ``None`` when the client closed it cleanly."""
    try:
        line = await reader.readuntil(b"\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise BadRequest(400, "the connection closed inside a request line") from exc
    except asyncio.LimitOverrunError as exc:
        raise BadRequest(431, "request line too long") from exc
    parts = line.decode("latin-1").strip().split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest(400, f"not an HTTP/1.x request line: {line[:80]!r}")
    method, target, version = parts
    headers = await _read_headers(reader)
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raise BadRequest(411, "send the body with a Content-Length, not chunked")
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError as exc:
        raise BadRequest(400, "Content-Length is not a number") from exc
    if length < 0 or length > MAX_BODY:
        raise BadRequest(413, f"a body may hold at most {MAX_BODY} bytes")
    try:
        body = await reader.readexactly(length) if length else b""
    except asyncio.IncompleteReadError as exc:
        raise BadRequest(400, "the connection closed inside the body") from exc
    path = target.split("?", 1)[0]
    return Request(method=method, path=path, version=version, headers=headers, body=body)


async def _read_headers(reader: asyncio.StreamReader) -> dict[str, str]:
    headers: dict[str, str] = {}
    for _ in range(MAX_HEADERS + 1):
        try:
            line = await reader.readuntil(b"\r\n")
        except asyncio.IncompleteReadError as exc:
            raise BadRequest(400, "the connection closed inside the headers") from exc
        except asyncio.LimitOverrunError as exc:
            raise BadRequest(431, "a header line is too long") from exc
        if line == b"\r\n":
            return headers
        name, sep, value = line.decode("latin-1").partition(":")
        if not sep or not name.strip():
            raise BadRequest(400, f"malformed header line {line[:80]!r}")
        headers[name.strip().lower()] = value.strip()
    raise BadRequest(431, f"more than {MAX_HEADERS} headers")


def _head(status: int, headers: Mapping[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def send(
    writer: asyncio.StreamWriter,
    status: int,
    body: bytes,
    *,
    content_type: str,
    headers: Mapping[str, str],
    keep_alive: bool,
) -> None:
    """Write one whole response."""
    head = {
        **headers,
        "Content-Type": content_type,
        "Content-Length": str(len(body)),
        "Connection": "keep-alive" if keep_alive else "close",
    }
    writer.write(_head(status, head) + body)
    await writer.drain()


async def send_json(
    writer: asyncio.StreamWriter,
    status: int,
    payload: object,
    *,
    headers: Mapping[str, str],
    keep_alive: bool,
) -> None:
    """Write one JSON response."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    await send(
        writer,
        status,
        body,
        content_type="application/json",
        headers=headers,
        keep_alive=keep_alive,
    )


class EventStream:
    """A ``text/event-stream`` answer in HTTP/1.1 chunks: ``data: {json}\n\n`` per event.

    The status line and headers go out with the first event, not before it: a proxy in front
    (Go's ``httputil.ReverseProxy``, as in Traefik) that gets the headers of an answer before
    it has finished reading the request body it forwards can close the backend connection
    under the answer (it sees the request body closed), and the stream is cut. Sending the
    head with the first token, as a server that answers once it has something to say, leaves
    it the time to.
    """

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        self._head: bytes | None = None

    async def start(self, headers: Mapping[str, str], *, keep_alive: bool) -> None:
        """Prepare the status line and headers (sent with the first event)."""
        head = {
            **headers,
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "Transfer-Encoding": "chunked",
            "Connection": "keep-alive" if keep_alive else "close",
        }
        self._head = _head(200, head)

    async def event(self, data: str) -> None:
        """Send one event; raises ``ConnectionError`` when the client has gone."""
        payload = f"data: {data}\n\n".encode()
        head, self._head = self._head or b"", None
        self._writer.write(head + f"{len(payload):x}\r\n".encode() + payload + b"\r\n")
        await self._writer.drain()

    async def end(self) -> None:
        """Send the last (empty) chunk."""
        head, self._head = self._head or b"", None
        self._writer.write(head + b"0\r\n\r\n")
        await self._writer.drain()

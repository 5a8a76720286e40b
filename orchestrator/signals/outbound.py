"""Where feeds and VTNs may be called: an allow-list of hosts, and never a link-local address.

A GridZone's author chooses its feeds' URLs, and a feed is sent credentials; so every URL a feed
or a VTN client calls (the VTN's own token URL too) is checked first by :meth:`Outbound.check`:

- the scheme is ``http`` or ``https`` and the URL names a host;
- the host is on ``feed_allowed_hosts`` (a name, or ``*.domain`` for any name under it);
- neither the host nor any address it resolves to is link-local (169.254.0.0/16, fe80::/10: the
  clouds' instance metadata lives there), a known metadata name or address, or unspecified.

Every refusal is a ``SignalError`` naming the host and what to change; no request is sent.
:func:`read_bounded` reads an answer as it streams and gives up past ``MAX_BODY`` bytes.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from urllib.parse import urlsplit

import httpx

from orchestrator.errors import SignalError

Resolver = Callable[[str, int], Awaitable[list[str]]]
MAX_BODY = 8 * 1024 * 1024
"""The most of a feed's or a VTN's answer that is read."""
METADATA_NAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
    }
)
METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("fd00:ec2::254"), ipaddress.ip_address("100.100.100.200")}
)
"""Instance metadata outside the link-local ranges (AWS over IPv6, Alibaba Cloud)."""


async def read_bounded(answer: httpx.Response, *, what: str, limit: int = MAX_BODY) -> bytes:
    """The body of a streamed ``answer``; SignalError as soon as it passes ``limit`` bytes."""
    declared = answer.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise SignalError(f"{what}: the answer is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in answer.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise SignalError(f"{what}: the answer is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def resolve(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to (through the event loop's resolver)."""
    loop = asyncio.get_running_loop()
    try:
        found = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise SignalError(f"host {host} does not resolve: {exc.strerror or exc}") from exc
    return [str(info[4][0]) for info in found]


def allowed(host: str, patterns: Sequence[str]) -> bool:
    """Whether ``host`` is one of ``patterns`` (``*.domain`` matches any name under domain)."""
    name = host.lower().rstrip(".")
    for pattern in patterns:
        if pattern.startswith("*."):
            if name.endswith(pattern[1:]) and len(name) > len(pattern) - 1:
                return True
        elif name == pattern:
            return True
    return False


def forbidden_address(text: str) -> bool:
    """Whether ``text`` is an address no feed may be polled at (link-local, metadata, any)."""
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_link_local or address.is_unspecified or address in METADATA_ADDRESSES


class Outbound:
    """The check every feed and VTN URL passes before a request is sent."""

    def __init__(self, allowed_hosts: Sequence[str], *, resolver: Resolver = resolve) -> None:
        self.allowed_hosts = tuple(h.lower() for h in allowed_hosts)
        self.resolver = resolver

    async def check(self, url: str) -> None:
        """Return when ``url`` may be called; ``SignalError`` saying why not otherwise."""
        try:
            parts = urlsplit(url)
            host, port = parts.hostname, parts.port
        except ValueError as exc:
            raise SignalError("the feed URL cannot be parsed") from exc
        if parts.scheme not in ("http", "https") or not host:
            raise SignalError("a feed URL must be http:// or https:// with a host")
        if host in METADATA_NAMES or forbidden_address(host):
            raise SignalError(f"host {host} is a link-local or metadata address: never polled")
        if not allowed(host, self.allowed_hosts):
            raise SignalError(
                f"host {host} is not in GRIDSHIFT_FEED_ALLOWED_HOSTS; add it there to poll it"
            )
        default = 443 if parts.scheme == "https" else 80
        for address in await self.resolver(host, port or default):
            if forbidden_address(address):
                raise SignalError(
                    f"host {host} resolves to {address}, a link-local or metadata address: "
                    "never polled"
                )

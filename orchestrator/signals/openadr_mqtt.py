"""OpenADR 3.1 MQTT notifications: one subscriber per zone's VEN, reconnecting until stopped.

The VTN names its broker at ``GET /notifiers`` and the topic of a VEN's events at
``GET /notifiers/mqtt/topics/vens/{venID}/events`` (``vens/<id>/events/+``: what the VTN shows
that VEN, created, updated or deleted). With ``OAUTH2_BEARER_TOKEN`` authentication the user
name is the client id and the password a bearer token from the VTN.

:func:`listen` runs until cancelled: discover, connect, subscribe (QoS 1), hand every message to
``deliver``; after each (re)connection it calls ``connected``, which the service answers with a
poll, so whatever was published while the subscriber was away is caught up. A broker or VTN
that fails is retried after ``retry_seconds`` (doubling up to 16 s). Duplicates and
out-of-order messages are harmless: signals are keyed by event and revision in the ledger, and
the newest revision of an event wins.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import aiomqtt

from orchestrator.errors import GridshiftError, SignalError
from orchestrator.signals.openadr_client import VtnClient

log = logging.getLogger(__name__)

MAX_RETRY_SECONDS = 16.0
_PLAIN = {"mqtt": 1883, "tcp": 1883}
_TLS = {"mqtts": 8883, "ssl": 8883, "tls": 8883}


def broker_address(uri: str) -> tuple[str, int, bool]:
    """Host, port and whether TLS is used, from a broker URI (``mqtt://host:1883``)."""
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if (scheme not in _PLAIN and scheme not in _TLS) or not parts.hostname:
        raise SignalError(f"MQTT broker URI {uri[:128]!r} is not mqtt://, mqtts:// or tcp://")
    tls = scheme in _TLS
    return parts.hostname, parts.port or (_TLS if tls else _PLAIN)[scheme], tls


async def listen(
    client: VtnClient,
    ven_id: str,
    *,
    deliver: Callable[[bytes], Awaitable[None]],
    connected: Callable[[], Awaitable[None]],
    retry_seconds: float = 5.0,
) -> None:
    """Subscribe to the VEN's event notifications at the VTN's broker, forever."""
    delay = retry_seconds
    while True:
        try:
            binding = await client.mqtt_binding(ven_id)
            if binding is None:
                log.info("VTN %s offers no MQTT notifications: polling only", client.base_url)
                await asyncio.sleep(MAX_RETRY_SECONDS * 5)
                continue
            host, port, tls = broker_address(binding.uri)
            user = password = None
            if binding.bearer and client.credentials is not None:
                user, password = client.credentials.client_id, await client.token()
            async with aiomqtt.Client(
                host,
                port,
                username=user,
                password=password,
                tls_params=aiomqtt.TLSParameters() if tls else None,
                keepalive=30,
                timeout=10,
            ) as mqtt:
                for topic in binding.topics:
                    await mqtt.subscribe(topic, qos=1)
                log.info("subscribed to %s at broker %s:%d", ", ".join(binding.topics), host, port)
                delay = retry_seconds
                await connected()
                async for message in mqtt.messages:
                    payload = message.payload
                    if isinstance(payload, bytes | bytearray):
                        await deliver(bytes(payload))
        except (aiomqtt.MqttError, GridshiftError, OSError) as exc:
            log.warning(
                "MQTT notifications from VTN %s interrupted (again in %.0f s): %s",
                client.base_url,
                delay,
                exc,
            )
        await asyncio.sleep(delay)
        delay = min(delay * 2, MAX_RETRY_SECONDS)

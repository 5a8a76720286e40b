"""gridshift as an OpenADR 3 VEN of a zone's VTN: registration, programs, the events it is shown.

A 3.1 VTN shows a VEN client the events of programs it may see that either have no targets or
share a target with the client's VEN object, whose targets the VTN's operator assigns. So for
each zone with an ``OpenADRPoll`` feed, :class:`Vens` does on every poll:

1. **register**: ``GET /vens``; when the client has no VEN object, ``POST /vens`` with the
   binding's ``venName`` (3.0.1: also its targets, which a 3.0.1 VEN sets itself); when the name
   differs, ``PUT`` it. Targets the binding names but the VTN did not assign are logged: events
   aimed at them stay invisible until the VTN's operator adds them to the VEN;
2. **programs**: ``GET /programs`` resolves the binding's ``programNames`` to program ids (a
   program created after gridshift started is found on the next poll);
3. **events**: ``GET /events?programID=<id>`` per resolved program (all events the VEN is shown
   when ``programNames`` is empty), without a ``targets`` filter, which a 3.1 VTN would apply
   to untargeted events too. An event applies to the zone when it has no targets or shares one
   with the binding's or the VEN's targets (:func:`applies`);
4. **gone**: an event shown on the last poll and missing from a complete poll now was deleted
   (or moved out of the zone's reach): it is recorded as cancelled. A deletion while gridshift
   was not running is not seen this way; the event's window still ends it.

Notifications (MQTT, :mod:`orchestrator.signals.openadr_mqtt`) go through
:meth:`Vens.notified`: the same program and target rules, so a notification and a poll of the
same event give the same signals (the ledger keeps one of each).

Notifications (MQTT, :mod:`orchestrator.signals.openadr_mqtt`) go through
:meth:`Vens.notified`: the same program and target rules, so a notification and a poll of the
same event give the same signals (the ledger keeps one of each).

One :class:`orchestrator.signals.openadr_client.VtnClient` is kept per zone and feed, so its
token is reused until it expires.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx

from orchestrator.api.common import SecretKeyRef
from orchestrator.api.gridzone import OpenADRBinding, PriceFeed
from orchestrator.errors import SignalError
from orchestrator.signals.directory import ZoneView
from orchestrator.signals.model import Signal
from orchestrator.signals.openadr import (
    Event,
    Notification,
    Program,
    Ven,
    normalize_operation,
    parse_event,
)
from orchestrator.signals.openadr_client import Check, ClientCredentials, VtnClient
from orchestrator.signals.openadr_map import event_signals

log = logging.getLogger(__name__)

SecretReader = Callable[[SecretKeyRef], str]
HORIZON = timedelta(days=2)


def openadr_operator(zone: ZoneView, feed: PriceFeed) -> str:
    """The grid operator an OpenADRPoll feed's VTN is (``gridOperator``, one of the zone's
    ``gridOperators``): its events are recorded under that name; SignalError when unbound."""
    operator = feed.grid_operator
    if operator is None or operator not in zone.spec.grid_operators:
        raise SignalError(
            "OpenADRPoll feed: gridOperator must name one of the zone's gridOperators "
            "(the grid operator this VTN is)"
        )
    return operator


def vtn_feed(zone: ZoneView | None) -> PriceFeed | None:
    """The zone's first OpenADRPoll feed with a URL: its VTN is the one outcomes go to."""
    feeds = zone.spec.price_feeds if zone is not None else []
    return next((f for f in feeds if f.type == "OpenADRPoll" and f.url), None)


def resolve_programs(
    programs: Iterable[Program], names: Sequence[str]
) -> tuple[dict[str, str], list[str]]:
    """Program ids by name for ``names``, and the names no program has."""
    by_name = {p.program_name: p.id for p in programs}
    found = {name: by_name[name] for name in names if name in by_name}
    return found, [name for name in names if name not in by_name]


def applies(event: Event, targets: Iterable[str]) -> bool:
    """Whether an event the VEN was shown is for the zone: no targets, or one of ``targets``."""
    shown = event.target_names()
    return not shown or bool(set(shown) & set(targets))


@dataclass
class VenLink:
    """What gridshift holds about its VEN at one VTN for one zone."""

    client: VtnClient
    ven: Ven | None = None
    programs: dict[str, str] = field(default_factory=dict)
    unassigned: tuple[str, ...] = ()
    shown: dict[str, Event] = field(default_factory=dict)
    """The events of the last complete poll, by id."""


class Vens:
    """The zones' VENs at their VTNs; owns nothing but the HTTP client it is given."""

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        secrets: SecretReader,
        check: Check | None = None,
        timeout_seconds: float = 10.0,
    ) -> None:
        self.http = http
        self.secrets = secrets
        self.check = check
        """Raises when a URL may not be called (the outbound allow-list)."""
        self.timeout_seconds = timeout_seconds
        self._links: dict[str, tuple[str, VenLink]] = {}

    async def link(self, zone: ZoneView, feed: PriceFeed) -> VenLink:
        """The zone's link to the feed's VTN; a new client when the feed or its secret changed."""
        if not feed.url or zone.spec.openadr is None:
            raise SignalError("OpenADRPoll feed: url and spec.openADR are required")
        ref = feed.credentials_secret_ref
        secret = None if ref is None else await asyncio.to_thread(self.secrets, ref)
        key = f"{zone.name}/{feed.url}"
        config = f"{feed.model_dump_json()}|{zone.spec.openadr.model_dump_json()}|{secret}"
        known = self._links.get(key)
        if known is not None and known[0] == config:
            return known[1]
        binding = zone.spec.openadr
        client = VtnClient(
            feed.url,
            credentials=ClientCredentials.parse(secret) if secret else None,
            http=self.http,
            token_url=binding.token_url,
            version=binding.version,
            timeout_seconds=self.timeout_seconds,
            check=self.check,
        )
        link = VenLink(client)
        self._links[key] = (config, link)
        return link

    async def client(self, zone: ZoneView, feed: PriceFeed) -> VtnClient:
        """The VTN client of the zone's feed."""
        return (await self.link(zone, feed)).client

    async def register(self, link: VenLink, binding: OpenADRBinding) -> Ven:
        """Our VEN object at the VTN, created or renamed to match the binding."""
        client, wanted = link.client, list(binding.targets)
        found = await client.vens()
        ours = next((v for v in found if v.ven_name == binding.ven_name), None)
        if ours is None and found and client.version == "3.1.0":
            ours = found[0]  # a 3.1 VTN keeps one VEN object per client: rename it
        if ours is None:
            ours = await client.register_ven(name=binding.ven_name, targets=wanted)
            log.info("registered VEN %s at VTN %s: id %s", ours.ven_name, client.base_url, ours.id)
        elif ours.ven_name != binding.ven_name or (
            client.version == "3.0.1" and ours.target_names() != wanted
        ):
            ours = await client.register_ven(name=binding.ven_name, targets=wanted, ven_id=ours.id)
            log.info("updated VEN %s at VTN %s (id %s)", ours.ven_name, client.base_url, ours.id)
        unassigned = tuple(t for t in wanted if t not in ours.target_names())
        if unassigned != link.unassigned and unassigned:
            log.warning(
                "VEN %s at VTN %s lacks targets %s: events aimed at them stay invisible until "
                "the VTN's operator assigns them to the VEN",
                ours.ven_name,
                client.base_url,
                ", ".join(unassigned),
            )
        link.ven, link.unassigned = ours, unassigned
        return ours

    async def events(self, zone: ZoneView, feed: PriceFeed) -> list[Event]:
        """Register, resolve the zone's programs, and return the events that apply to it."""
        binding = zone.spec.openadr
        link = await self.link(zone, feed)
        if binding is None:
            raise SignalError("OpenADRPoll feed: spec.openADR is required")
        client = link.client
        ven = await self.register(link, binding) if client.credentials is not None else None
        targets = {*binding.targets, *(ven.target_names() if ven else [])}
        if not binding.program_names:
            shown = await client.events()
        else:
            await self._resolve(link, binding)
            shown = []
            for program_id in link.programs.values():
                shown += await client.events(program_id=program_id)
        return [event for event in shown if applies(event, targets)]

    async def _resolve(self, link: VenLink, binding: OpenADRBinding) -> None:
        client = link.client
        link.programs, missing = resolve_programs(await client.programs(), binding.program_names)
        if missing and not link.programs:
            raise SignalError(f"VTN {client.base_url} shows no program named {', '.join(missing)}")
        if missing:
            log.warning("VTN %s shows no program named %s", client.base_url, ", ".join(missing))

    async def notified(
        self, zone: ZoneView, feed: PriceFeed, notification: Notification, now: datetime
    ) -> list[Signal]:
        """The signals of one notification for the zone's VEN; [] when it is not for the zone
        (not an EVENT, another program, another target)."""
        binding = zone.spec.openadr
        if binding is None or notification.object_type.upper() != "EVENT":
            return []
        event = parse_event(notification.object)
        link = await self.link(zone, feed)
        if binding.program_names:
            if event.program_id not in link.programs.values():
                await self._resolve(link, binding)  # a program created since the last poll
            if event.program_id not in link.programs.values():
                return []
        targets = {*binding.targets, *(link.ven.target_names() if link.ven else [])}
        operation = normalize_operation(notification.operation)
        known = event.id is not None and event.id in link.shown
        if not applies(event, targets) and not (operation == "DELETE" and known):
            return []
        if event.id and operation == "DELETE":
            link.shown.pop(event.id, None)
        elif event.id:
            link.shown[event.id] = event
        return event_signals(
            event,
            operation=operation,
            source=f"openadr:{openadr_operator(zone, feed)}",
            zones=[zone.name],
            now=now,
            horizon=now + HORIZON,
        )

    async def poll(self, zone: ZoneView, feed: PriceFeed, now: datetime) -> list[Signal]:
        """The signals of the events the zone's VEN is shown now."""
        source = f"openadr:{openadr_operator(zone, feed)}"
        link = await self.link(zone, feed)
        events = await self.events(zone, feed)
        current = {event.id: event for event in events if event.id}
        signals: list[Signal] = []
        for event in events:
            signals += event_signals(
                event,
                operation="UPDATE",
                source=source,
                zones=[zone.name],
                now=now,
                horizon=now + HORIZON,
            )
        for event_id, event in link.shown.items():
            if event_id not in current:
                log.info("event %s is gone from VTN %s: cancelled", event_id, link.client.base_url)
                signals += event_signals(
                    event,
                    operation="DELETE",
                    source=source,
                    zones=[zone.name],
                    now=now,
                    horizon=now + HORIZON,
                )
        link.shown = current
        return signals

    async def subscribe(
        self,
        zone: ZoneView,
        feed: PriceFeed,
        *,
        callback_url: str,
        client_name: str,
        bearer_token: str,
    ) -> str:
        """Make sure the feed's VTN notifies ``callback_url`` of the zone's events."""
        client = await self.client(zone, feed)
        binding = zone.spec.openadr
        return await client.ensure_subscription(
            client_name=client_name,
            callback_url=callback_url,
            bearer_token=bearer_token,
            targets=list(binding.targets) if binding else [],
        )

"""Price and carbon feeds a GridZone's ``spec.priceFeeds`` names, polled into normalized signals.

One provider per ``PriceFeed.type``; each returns signals or raises ``SignalError`` (HTTP error,
timeout, malformed body, missing field). A failed poll records nothing: the zone keeps its last
real values and turns Stale once its TTL passes. Nothing is ever filled in.

- ``TimeOfUse``: the zone's ``spec.tariff``, else the shipped dataset for its ``gridZoneID``;
  windows from the start of the current one to a day ahead (no HTTP).
- ``HTTPJSON``: ``GET url``; ``valuePath`` (dots, list indexes as numbers) points at a number,
  the price per kWh in the zone's currency for the current poll interval, or at a list of
  ``{"start"|"datetime", "end"?, "value"}`` objects. A ``credentialsSecretRef`` is sent as a
  bearer token.
- ``ElectricityMaps``: ``GET <url>/carbon-intensity/latest?zone=<area>`` (carbon intensity) and
  ``GET <url>/price-day-ahead/latest?zone=<area>`` (price; a 404 there is no error), with the
  ``auth-token`` header; the zone is always passed.
- ``ENTSOE``: day-ahead prices (A44) for bidding zone ``area`` from yesterday to two days ahead.
- ``OpenADRPoll``: the zone as a VEN of the VTN ``url`` (registration, programs by name, the
  events the VTN shows it: :mod:`orchestrator.signals.openadr_ven`), with the OAuth2 client
  credentials ``<id>:<secret>`` from the Secret; ``gridOperator`` names the grid operator this
  VTN is (one of the zone's ``gridOperators``), so pushed and polled events are the same source,
  and only that operator's webhook token is handed to the VTN.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import httpx

from orchestrator.api.common import SecretKeyRef
from orchestrator.api.gridzone import PriceFeed
from orchestrator.errors import ConfigError, SignalError
from orchestrator.logs import redact
from orchestrator.signals.directory import ZoneView
from orchestrator.signals.entsoe import entsoe_signals, parse_a44
from orchestrator.signals.model import Signal
from orchestrator.signals.openadr_ven import Vens
from orchestrator.signals.outbound import MAX_BODY, Outbound, read_bounded
from orchestrator.signals.timing import parse_time, utc
from orchestrator.signals.tou import Schedule, tou_signals
from orchestrator.signals.tou_data import dataset_schedule

ELECTRICITY_MAPS = "https://api.electricitymaps.com/v3"
ENTSOE = "https://web-api.tp.entsoe.eu/api"
SecretReader = Callable[[SecretKeyRef], str]


def schedule_for(zone: ZoneView, on: datetime) -> Schedule | None:
    """The zone's tariff schedule: ``spec.tariff``, else the dataset's for ``gridZoneID``."""
    spec = zone.spec
    if spec.tariff is not None:
        return Schedule.from_tariff(spec.tariff, timezone=spec.timezone, currency=spec.currency)
    if spec.grid_zone_id:
        return dataset_schedule(spec.grid_zone_id, on=on.date())
    return None


def _path(document: Any, path: str) -> Any:
    current = document
    for part in filter(None, path.split(".")):
        if isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        elif isinstance(current, dict) and part in current:
            current = current[part]
        else:
            raise SignalError(f"valuePath {path!r}: nothing at {part!r}")
    return current


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SignalError(f"{what} is not a number")
    return float(value)


class FeedPoller:
    """Polls one feed of one zone; owns nothing but the HTTP client it is given."""

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        secrets: SecretReader,
        clock: Callable[[], datetime],
        outbound: Outbound,
        timeout_seconds: float = 10.0,
    ) -> None:
        self.http = http
        self.secrets = secrets
        self.clock = clock
        self.outbound = outbound
        self.timeout_seconds = timeout_seconds
        self.timeout = httpx.Timeout(timeout_seconds)
        self.vens = Vens(
            http=http, secrets=secrets, check=outbound.check, timeout_seconds=timeout_seconds
        )

    async def poll(self, zone: ZoneView, feed: PriceFeed) -> list[Signal]:
        """The feed's signals now; ``SignalError`` when the feed failed or its answer is bad."""
        now = self.clock()
        try:
            if feed.type == "TimeOfUse":
                schedule = schedule_for(zone, now)
                if schedule is None:
                    raise SignalError("TimeOfUse feed: the zone has no tariff and no gridZoneID")
                return tou_signals(schedule, zone=zone.name, now=now, horizon=timedelta(days=1))
            if feed.type == "HTTPJSON":
                return await self._http_json(zone, feed, now)
            if feed.type == "ElectricityMaps":
                return await self._electricity_maps(zone, feed)
            if feed.type == "ENTSOE":
                return await self._entsoe(zone, feed, now)
            return await self._openadr(zone, feed, now)
        except ConfigError as exc:
            raise SignalError(f"{feed.type} feed: {exc}") from exc

    async def _secret(self, feed: PriceFeed) -> str | None:
        ref = feed.credentials_secret_ref
        return None if ref is None else await asyncio.to_thread(self.secrets, ref)

    async def _get(self, url: str, *, what: str, **kwargs: Any) -> bytes:
        """The body of ``GET url``, read as it streams and abandoned past ``MAX_BODY`` bytes."""
        await self.outbound.check(url)
        try:
            async with self.http.stream("GET", url, timeout=self.timeout, **kwargs) as answer:
                if answer.status_code >= 400:
                    raise SignalError(f"{what}: HTTP {answer.status_code}")
                return await read_bounded(answer, what=what, limit=MAX_BODY)
        except httpx.TimeoutException as exc:
            raise SignalError(f"{what}: timed out") from exc
        except httpx.HTTPError as exc:
            raise SignalError(f"{what}: {type(exc).__name__}") from exc

    async def _json(self, url: str, *, what: str, **kwargs: Any) -> Any:
        body = await self._get(url, what=what, **kwargs)
        try:
            return json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise SignalError(f"{what}: the answer is not JSON") from exc

    async def _http_json(self, zone: ZoneView, feed: PriceFeed, now: datetime) -> list[Signal]:
        if not feed.url:
            raise SignalError("HTTPJSON feed: url is required")
        token = await self._secret(feed)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        body = await self._json(feed.url, what=f"HTTPJSON {redact(feed.url)}", headers=headers)
        found = _path(body, feed.value_path or "")
        unit = f"{zone.spec.currency}/kWh"
        step = timedelta(seconds=feed.poll_interval_seconds)
        base = Signal(
            source=f"http-json:{zone.name}",
            external_id="?",
            zone=zone.name,
            kind="price",
            start=now,
            end=None,
            value=None,
            unit=unit,
        )
        if not isinstance(found, list):
            bucket = datetime.fromtimestamp(
                now.timestamp() // step.total_seconds() * step.total_seconds(), UTC
            )
            stamp = bucket.strftime("%Y%m%dT%H%M%S")
            return [
                replace(
                    base,
                    external_id=stamp,
                    event=stamp,
                    start=bucket,
                    end=bucket + step,
                    value=_number(found, f"valuePath {feed.value_path!r}"),
                )
            ]
        signals = []
        for index, item in enumerate(found[:1000]):
            if not isinstance(item, dict):
                raise SignalError(f"valuePath {feed.value_path!r} item {index} is not an object")
            begins = item.get("start", item.get("datetime"))
            if not isinstance(begins, str):
                raise SignalError(f"item {index} has no start or datetime")
            start = utc(parse_time(begins))
            end_text = item.get("end")
            end = utc(parse_time(end_text)) if isinstance(end_text, str) else start + step
            key = start.strftime("%Y%m%dT%H%M%S")
            signals.append(
                replace(
                    base,
                    external_id=key,
                    event=key,
                    start=start,
                    end=end,
                    value=_number(item.get("value"), f"item {index} value"),
                )
            )
        return signals

    async def _electricity_maps(self, zone: ZoneView, feed: PriceFeed) -> list[Signal]:
        if not feed.area:
            raise SignalError("ElectricityMaps feed: area (the Electricity Maps zone) is required")
        token = await self._secret(feed)
        if not token:
            raise SignalError(
                "ElectricityMaps feed: credentialsSecretRef (the auth-token) is required"
            )
        base = (feed.url or ELECTRICITY_MAPS).rstrip("/")
        headers = {"auth-token": token}
        params = {"zone": feed.area}
        what = f"ElectricityMaps {base}"
        carbon = await self._json(
            f"{base}/carbon-intensity/latest", what=what, headers=headers, params=params
        )
        signals = [_em_signal(zone.name, carbon, "carbonIntensity", "carbon_intensity", what)]
        try:
            price = await self._json(
                f"{base}/price-day-ahead/latest", what=what, headers=headers, params=params
            )
        except SignalError as exc:
            if "HTTP 404" in str(exc):
                return signals
            raise
        signals.append(_em_signal(zone.name, price, "value", "price", what))
        return signals

    async def _entsoe(self, zone: ZoneView, feed: PriceFeed, now: datetime) -> list[Signal]:
        if not feed.area:
            raise SignalError("ENTSOE feed: area (the EIC bidding zone) is required")
        token = await self._secret(feed)
        day = datetime.combine(now.astimezone(UTC).date(), datetime.min.time(), UTC)
        params = {
            "documentType": "A44",
            "in_Domain": feed.area,
            "out_Domain": feed.area,
            "periodStart": (day - timedelta(days=1)).strftime("%Y%m%d%H%M"),
            "periodEnd": (day + timedelta(days=2)).strftime("%Y%m%d%H%M"),
        }
        if token:
            params["securityToken"] = token
        answer = await self._get(feed.url or ENTSOE, what=f"ENTSOE {feed.area}", params=params)
        points = parse_a44(answer, area=feed.area)
        revision = hashlib.sha256(answer).hexdigest()[:12]
        return entsoe_signals(points, zone=zone.name, revision=revision)

    async def _openadr(self, zone: ZoneView, feed: PriceFeed, now: datetime) -> list[Signal]:
        return await self.vens.poll(zone, feed, now)


def _em_signal(
    zone: str, body: Any, field: str, kind: Literal["price", "carbon_intensity"], what: str
) -> Signal:
    if not isinstance(body, dict) or not isinstance(body.get("datetime"), str):
        raise SignalError(f"{what}: the answer has no datetime")
    start = utc(parse_time(body["datetime"]))
    value = _number(body.get(field), f"{what}: {field}")
    unit = "g/kWh"
    if kind == "price":
        currency, _, per = str(body.get("unit", "")).partition("/")
        if per.upper() not in ("MWH", "KWH") or len(currency) != 3:
            raise SignalError(f"{what}: price unit {body.get('unit')!r} is not <currency>/MWh")
        value = value / 1000 if per.upper() == "MWH" else value
        unit = f"{currency.upper()}/kWh"
    key = f"{kind}:{start.strftime('%Y%m%dT%H%M')}"
    return Signal(
        source=f"electricitymaps:{zone}",
        external_id=key,
        zone=zone,
        kind=kind,
        start=start,
        end=start + timedelta(hours=1),
        value=value,
        unit=unit,
        event=key,
        extra={"estimated": bool(body.get("isEstimated", False))},
    )

"""The VEN side of OpenADR 3 towards a VTN: OAuth2 token, subscription, event polling, reports.

- Token: OAuth 2.0 client credentials (``grant_type=client_credentials``, form-encoded) at the
  token URL given, else the one the VTN names at ``GET /auth/server`` (3.1.0); cached until
  30 s before it expires.
- :meth:`VtnClient.ensure_subscription`: one webhook subscription per client name and callback
  URL, for EVENT objects, created once and updated when its targets or token changed.
  Operations are CRUD for 3.1.0 and HTTP verbs for 3.0.1.
- :meth:`VtnClient.vens` and :meth:`VtnClient.register_ven`: the VEN objects this client may
  see (``GET /vens``; a 3.1 VTN shows a VEN client its own), and ``POST``/``PUT /vens`` with
  objectType ``VEN_VEN_REQUEST`` (3.1.0: name and attributes; the VTN's operator assigns the
  targets) or the name and targets (3.0.1, where a VEN sets its own).
- :meth:`VtnClient.programs`: ``GET /programs``, paged: what resolves program names to ids.
- :meth:`VtnClient.events`: ``GET /events``, paged (``skip``/``limit`` 50, at most 20 pages),
  optionally for one ``programID`` and targets: the fallback when notifications do not arrive
  and the catch-up after downtime.
- :meth:`VtnClient.event_document`: ``GET /events/{id}`` as raw camelCase JSON (for its
  ``reportDescriptors`` and ``programID``); ``None`` when the VTN answers 4xx (gone, or not
  readable with a VEN's scopes).
- :meth:`VtnClient.post_report`: ``POST /reports``.
- :meth:`VtnClient.mqtt_binding`: the 3.1 MQTT notifier binding (``GET /notifiers`` for the
  broker and its authentication, ``GET /notifiers/mqtt/topics/vens/{venID}/events`` for the
  topic of our VEN's events); None when the VTN offers no MQTT. openleadr-vtn 0.2.8 names
  ``events/vens/<id>/+`` there but publishes on ``vens/<id>/events/<operation>``: both are
  subscribed to.

Every failure (HTTP error, timeout, unexpected body) is a ``SignalError`` naming the VTN call;
a 4xx answer is a :class:`VtnRefusedError` (the VTN will not accept the same request again),
except 401, 403, 408 and 429. A 401 is first answered with one fresh token (the old one expired,
or the VTN restarted with a new signing key) and the request sent again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from orchestrator.errors import SignalError
from orchestrator.signals.openadr import (
    Event,
    Program,
    Subscription,
    Ven,
    coerce_keys,
    describe_validation,
    flatten_targets,
)
from orchestrator.signals.outbound import read_bounded

PAGE = 50
MAX_PAGES = 20
RETRYABLE = frozenset({401, 403, 408, 429})
"""4xx answers about the caller's token or pace, not the request: worth trying again later."""
Version = Literal["3.0.1", "3.1.0"]
Check = Callable[[str], Awaitable[None]]
"""Raises when a URL may not be called (``orchestrator.signals.outbound.Outbound.check``)."""
_OPERATIONS: dict[Version, list[str]] = {
    "3.1.0": ["CREATE", "UPDATE", "DELETE"],
    "3.0.1": ["POST", "PUT", "DELETE"],
}


@dataclass(frozen=True, slots=True)
class MqttBinding:
    """The broker a VTN publishes notifications to, the topic of our events, how to log in
    (``bearer``: the client id as user name and the bearer token as password)."""

    uri: str
    topics: tuple[str, ...]
    bearer: bool


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    """The VEN's OAuth2 client id and secret, given out of band by the VTN's operator."""

    client_id: str
    client_secret: str

    @classmethod
    def parse(cls, text: str) -> ClientCredentials:
        """``<client id>:<client secret>`` (the form kept in the feed's Secret key)."""
        client_id, sep, secret = text.strip().partition(":")
        if not sep or not client_id or not secret:
            raise SignalError("OpenADR credentials must be '<client id>:<client secret>'")
        return cls(client_id, secret)


class VtnStatusError(SignalError):
    """The VTN answered with an HTTP error status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class VtnRefusedError(VtnStatusError):
    """The VTN answered 4xx: the request is wrong for it, and sending it again will not help."""

    def __init__(self, message: str, *, status: int, detail: str = "") -> None:
        super().__init__(message, status)
        self.detail = detail


class VtnClient:
    """Calls to one VTN, over an ``httpx.AsyncClient`` the caller owns."""

    def __init__(
        self,
        base_url: str,
        *,
        credentials: ClientCredentials | None,
        http: httpx.AsyncClient,
        token_url: str | None = None,
        version: Version = "3.1.0",
        scope: str | None = None,
        timeout_seconds: float = 10.0,
        check: Check | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.check = check
        self.credentials = credentials
        self.http = http
        self.token_url = token_url
        self.version = version
        self.scope = scope
        self.timeout = httpx.Timeout(timeout_seconds)
        self._token: tuple[str, float] | None = None

    async def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        what = f"{method} {path} at VTN {self.base_url}"
        await self._allowed(f"{self.base_url}{path}")
        try:
            status, body = await self._send(method, path, what=what, **kwargs)
            if status == 401 and self.credentials is not None:
                self._token = None  # expired, or the VTN signs with a new key: one fresh token
                status, body = await self._send(method, path, what=what, **kwargs)
            if 400 <= status < 500 and status not in RETRYABLE:
                detail = body[:512].decode(errors="replace")
                raise VtnRefusedError(
                    f"{what}: HTTP {status} {detail}".strip(), status=status, detail=detail
                )
            if status >= 400:
                raise VtnStatusError(f"{what}: HTTP {status}", status)
            return json.loads(body) if body else None
        except httpx.TimeoutException as exc:
            raise SignalError(f"{what}: timed out") from exc
        except httpx.HTTPError as exc:
            raise SignalError(f"{what}: {type(exc).__name__} {exc}") from exc
        except ValueError as exc:
            raise SignalError(f"{what}: the answer is not JSON") from exc

    async def _send(self, method: str, path: str, *, what: str, **kwargs: Any) -> tuple[int, bytes]:
        """The answer's status and body, read as it streams and abandoned past the bound."""
        headers = {"Authorization": f"Bearer {await self.token()}"} if self.credentials else {}
        async with self.http.stream(
            method, f"{self.base_url}{path}", headers=headers, timeout=self.timeout, **kwargs
        ) as answer:
            return answer.status_code, await read_bounded(answer, what=what)

    async def token(self) -> str:
        """A bearer token from the VTN's token endpoint, reused until shortly before expiry."""
        if self.credentials is None:
            raise SignalError(f"no credentials for VTN {self.base_url}")
        if self._token is not None and self._token[1] > time.monotonic():
            return self._token[0]
        url = self.token_url or await self._discover()
        form = {
            "grant_type": "client_credentials",
            "client_id": self.credentials.client_id,
            "client_secret": self.credentials.client_secret,
        }
        if self.scope:
            form["scope"] = self.scope
        await self._allowed(url)
        try:
            answer = await self.http.post(url, data=form, timeout=self.timeout)
            answer.raise_for_status()
            body = answer.json()
        except httpx.HTTPStatusError as exc:
            raise SignalError(f"token request to {url}: HTTP {exc.response.status_code}") from exc
        except (httpx.HTTPError, ValueError) as exc:
            raise SignalError(f"token request to {url} failed: {type(exc).__name__}") from exc
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise SignalError(f"token answer from {url} has no access_token")
        lifetime = body.get("expires_in", 300)
        seconds = float(lifetime) if isinstance(lifetime, int | float) else 300.0
        self._token = (token, time.monotonic() + max(seconds - 30, 1))
        return token

    async def _allowed(self, url: str) -> None:
        if self.check is not None:
            await self.check(url)

    async def _discover(self) -> str:
        await self._allowed(f"{self.base_url}/auth/server")
        try:
            answer = await self.http.get(f"{self.base_url}/auth/server", timeout=self.timeout)
            answer.raise_for_status()
            body = answer.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise SignalError(
                f"token URL discovery at {self.base_url}/auth/server failed: {exc}"
            ) from exc
        url = coerce_keys(body).get("tokenURL") if isinstance(body, dict) else None
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise SignalError(f"{self.base_url}/auth/server names no tokenURL")
        self.token_url = url
        return url

    async def _pages(
        self, path: str, params: list[tuple[str, str | int]]
    ) -> list[tuple[int, dict[str, Any]]]:
        """Every object of a paged list, with its position; camelCase keys."""
        found: list[tuple[int, dict[str, Any]]] = []
        for page in range(MAX_PAGES):
            paged: list[tuple[str, str | int]] = [("skip", page * PAGE), ("limit", PAGE)]
            body = await self._request("GET", path, params=[*paged, *params])
            if not isinstance(body, list):
                raise SignalError(f"GET {path} at VTN {self.base_url}: expected a list")
            for index, item in enumerate(body):
                if not isinstance(item, dict):
                    raise SignalError(f"GET {path} at VTN {self.base_url}: item is no object")
                found.append((page * PAGE + index, coerce_keys(item)))
            if len(body) < PAGE:
                break
        return found

    async def events(
        self, *, targets: list[str] | None = None, program_id: str | None = None
    ) -> list[Event]:
        """Every event the VTN shows us (for ``targets`` and ``program_id``), all pages."""
        params: list[tuple[str, str | int]] = [("targets", t) for t in targets or []]
        if program_id:
            params.append(("programID", program_id))
        found: list[Event] = []
        for position, item in await self._pages("/events", params):
            try:
                found.append(Event.model_validate(item))
            except ValidationError as exc:
                raise SignalError(describe_validation(exc, prefix=f"events.{position}")) from exc
        return found

    async def programs(self) -> list[Program]:
        """Every program the VTN shows us, all pages."""
        found: list[Program] = []
        for position, item in await self._pages("/programs", []):
            try:
                found.append(Program.model_validate(item))
            except ValidationError as exc:
                raise SignalError(describe_validation(exc, prefix=f"programs.{position}")) from exc
        return found

    async def vens(self) -> list[Ven]:
        """The VEN objects the VTN shows this client (a 3.1 VTN: its own)."""
        found: list[Ven] = []
        for position, item in await self._pages("/vens", []):
            try:
                found.append(Ven.model_validate(item))
            except ValidationError as exc:
                raise SignalError(describe_validation(exc, prefix=f"vens.{position}")) from exc
        return found

    async def register_ven(
        self, *, name: str, targets: list[str], ven_id: str | None = None
    ) -> Ven:
        """Create (``ven_id`` None) or update our VEN object; the VTN's answer."""
        body: dict[str, Any] = {"objectType": "VEN_VEN_REQUEST", "venName": name}
        if self.version == "3.0.1":
            body = {"objectType": "VEN", "venName": name, "targets": targets}
        if ven_id is None:
            answer = await self._request("POST", "/vens", json=body)
        else:
            answer = await self._request("PUT", f"/vens/{quote(ven_id, safe='')}", json=body)
        try:
            return Ven.model_validate(coerce_keys(answer))
        except ValidationError as exc:
            raise SignalError(describe_validation(exc, prefix="ven")) from exc

    async def ensure_subscription(
        self,
        *,
        client_name: str,
        callback_url: str,
        bearer_token: str,
        targets: list[str],
        program_id: str | None = None,
    ) -> str:
        """The id of our subscription for ``callback_url``, created or updated as needed."""
        wanted = {
            "clientName": client_name,
            "objectOperations": [
                {
                    "objects": ["EVENT"],
                    "operations": _OPERATIONS[self.version],
                    "callbackUrl": callback_url,
                    "bearerToken": bearer_token,
                }
            ],
            "targets": targets,
        }
        if program_id:
            wanted["programID"] = program_id
        body = await self._request("GET", "/subscriptions", params={"clientName": client_name})
        for item in body if isinstance(body, list) else []:
            try:
                existing = Subscription.model_validate(coerce_keys(item))
            except ValidationError:
                continue
            ours = [o for o in existing.object_operations if o.callback_url == callback_url]
            if not ours or not existing.id:
                continue
            same = (
                flatten_targets(existing.targets) == targets
                and ours[0].bearer_token == bearer_token
            )
            if not same:
                await self._request("PUT", f"/subscriptions/{existing.id}", json=wanted)
            return existing.id
        created = await self._request("POST", "/subscriptions", json=wanted)
        new_id = created.get("id") if isinstance(created, dict) else None
        if not isinstance(new_id, str):
            raise SignalError(f"POST /subscriptions at VTN {self.base_url}: answer has no id")
        return new_id

    async def event_document(self, event_id: str) -> dict[str, Any] | None:
        """The event ``event_id`` as camelCase JSON; None when the VTN answers 4xx."""
        try:
            body = await self._request("GET", f"/events/{quote(event_id, safe='')}")
        except VtnStatusError as exc:
            if exc.status < 500:
                return None
            raise
        if not isinstance(body, dict):
            raise SignalError(f"GET /events/{{id}} at VTN {self.base_url}: expected an object")
        found: dict[str, Any] = coerce_keys(body)
        return found

    async def post_report(self, report: dict[str, Any]) -> None:
        """Send a report (``eventID``, ``clientName``, ``resources`` ...)."""
        await self._request("POST", "/reports", json=report)

    async def mqtt_binding(self, ven_id: str) -> MqttBinding | None:
        """Where and how the VTN publishes our VEN's event notifications; None without MQTT."""
        body = await self._request("GET", "/notifiers")
        mqtt = body.get("MQTT") if isinstance(body, dict) else None
        if not isinstance(mqtt, dict):
            return None
        uris = mqtt.get("URIS")
        if not isinstance(uris, list) or not uris or not isinstance(uris[0], str):
            raise SignalError(f"GET /notifiers at VTN {self.base_url}: MQTT without URIS")
        auth = mqtt.get("authentication")
        method = auth.get("method") if isinstance(auth, dict) else None
        path = f"/notifiers/mqtt/topics/vens/{quote(ven_id, safe='')}/events"
        topics = await self._request("GET", path)
        found = topics.get("topics") if isinstance(topics, dict) else None
        topic = found.get("ALL") if isinstance(found, dict) else None
        if not isinstance(topic, str) or not topic:
            raise SignalError(f"GET {path} at VTN {self.base_url}: no ALL topic")
        bearer = isinstance(method, str) and method.replace("_", "").upper() == "OAUTH2BEARERTOKEN"
        topics = [topic]
        swapped = topic.replace(f"events/vens/{ven_id}/", f"vens/{ven_id}/events/")
        if swapped != topic:
            topics.append(swapped)
        return MqttBinding(uri=uris[0], topics=tuple(topics), bearer=bearer)

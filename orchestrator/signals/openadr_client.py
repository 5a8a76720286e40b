"""The VEN side of OpenADR 3 towards a VTN: OAuth2 token, subscription, event polling, reports.

- Token: OAuth 2.0 client credentials (``grant_type=client_credentials``, form-encoded) at the
  token URL given, else the one the VTN names at ``GET /auth/server`` (3.1.0); cached until
  30 s before it expires.
- :meth:`VtnClient.ensure_subscription`: one webhook subscription per client name and callback
  URL, for EVENT objects, created once and updated when its targets or token changed.
  Operations are CRUD for 3.1.0 and HTTP verbs for 3.0.1.
- :meth:`VtnClient.events`: ``GET /events`` with our targets, paged (``skip``/``limit`` 50,
  at most 20 pages): the fallback when notifications do not arrive and the catch-up after
  downtime.
- :meth:`VtnClient.event_document`: ``GET /events/{id}`` as raw camelCase JSON (for its
  ``reportDescriptors`` and ``programID``); ``None`` when the VTN answers 4xx (gone, or not
  readable with a VEN's scopes).
- :meth:`VtnClient.post_report`: ``POST /reports``.

Every failure (HTTP error, timeout, unexpected body) is a ``SignalError`` naming the VTN call.
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
    Subscription,
    coerce_keys,
    describe_validation,
    flatten_targets,
)
from orchestrator.signals.outbound import read_bounded

PAGE = 50
MAX_PAGES = 20
Version = Literal["3.0.1", "3.1.0"]
Check = Callable[[str], Awaitable[None]]
"""Raises when a URL may not be called (``orchestrator.signals.outbound.Outbound.check``)."""
_OPERATIONS: dict[Version, list[str]] = {
    "3.1.0": ["CREATE", "UPDATE", "DELETE"],
    "3.0.1": ["POST", "PUT", "DELETE"],
}


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
        headers = {"Authorization": f"Bearer {await self.token()}"} if self.credentials else {}
        await self._allowed(f"{self.base_url}{path}")
        try:
            async with self.http.stream(
                method, f"{self.base_url}{path}", headers=headers, timeout=self.timeout, **kwargs
            ) as answer:
                if answer.status_code >= 400:
                    raise VtnStatusError(f"{what}: HTTP {answer.status_code}", answer.status_code)
                body = await read_bounded(answer, what=what)
            return json.loads(body) if body else None
        except httpx.TimeoutException as exc:
            raise SignalError(f"{what}: timed out") from exc
        except httpx.HTTPError as exc:
            raise SignalError(f"{what}: {type(exc).__name__} {exc}") from exc
        except ValueError as exc:
            raise SignalError(f"{what}: the answer is not JSON") from exc

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

    async def events(self, *, targets: list[str], program_id: str | None = None) -> list[Event]:
        """Every event for ``targets`` (and ``program_id``), all pages."""
        found: list[Event] = []
        for page in range(MAX_PAGES):
            params: list[tuple[str, str | int]] = [("skip", page * PAGE), ("limit", PAGE)]
            params += [("targets", t) for t in targets]
            if program_id:
                params.append(("programID", program_id))
            body = await self._request("GET", "/events", params=params)
            if not isinstance(body, list):
                raise SignalError(f"GET /events at VTN {self.base_url}: expected a list")
            for index, item in enumerate(body):
                try:
                    found.append(Event.model_validate(coerce_keys(item)))
                except ValidationError as exc:
                    raise SignalError(
                        describe_validation(exc, prefix=f"events.{page * PAGE + index}")
                    ) from exc
            if len(body) < PAGE:
                break
        return found

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

"""The grid operator at a real OpenADR 3.1 VTN: its BL client, over the VTN's own API."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from orchestrator.devenv.vtn import BL_CLIENT


def token(url: str, client_id: str, secret: str) -> str:
    """A bearer token for a client of the VTN (client credentials, form-encoded)."""
    answer = httpx.post(
        f"{url}/auth/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
        timeout=10,
    )
    answer.raise_for_status()
    return str(answer.json()["access_token"])


def event_body(program_id: str, *, kw: float, targets: list[str] | None = None) -> dict[str, Any]:
    """An IMPORT_CAPACITY_LIMIT event starting now for 30 min, asking for USAGE reports."""
    start = datetime.now(UTC).replace(microsecond=0)
    return {
        "programID": program_id,
        "eventName": f"cap-{uuid.uuid4().hex[:6]}",
        "targets": targets or [],
        "payloadDescriptors": [{"payloadType": "IMPORT_CAPACITY_LIMIT", "units": "KW"}],
        "reportDescriptors": [{"payloadType": "USAGE", "readingType": "DIRECT_READ"}],
        "intervalPeriod": {"start": start.isoformat().replace("+00:00", "Z"), "duration": "PT30M"},
        "intervals": [{"id": 0, "payloads": [{"type": "IMPORT_CAPACITY_LIMIT", "values": [kw]}]}],
    }


class Bl:
    """The BL client of the VTN's fixture: programs, events, VENs, users, reports."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=10)
        self.http.headers["Authorization"] = f"Bearer {token(url, *BL_CLIENT)}"

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        answer = self.http.request(method, path, **kwargs)
        assert answer.status_code < 300, f"{method} {path}: {answer.status_code} {answer.text}"
        return answer.json() if answer.content else None

    def event(self, program_id: str, *, kw: float, targets: list[str] | None = None) -> str:
        """Create an event (see :func:`event_body`); its id."""
        created = self.call("POST", "/events", json=event_body(program_id, kw=kw, targets=targets))
        return str(created["id"])

    def ven_client(self, name: str) -> tuple[str, str]:
        """A new VEN client (the fixture's VEN scopes) through the VTN's /users API."""
        user = self.call(
            "POST",
            "/users",
            json={
                "reference": name,
                "description": "a gridshift test VEN",
                "scope": [
                    "read_targets",
                    "read_ven_objects",
                    "write_reports_ven",
                    "write_subscriptions_ven",
                    "write_vens_ven",
                ],
            },
        )
        secret = uuid.uuid4().hex
        self.call("POST", f"/users/{user['id']}", json={"client_id": name, "client_secret": secret})
        return name, secret

    def assign_targets(self, ven_id: str, *, client_id: str, name: str, targets: list[str]) -> None:
        """Enroll a VEN: give it its targets (a 3.1 VEN cannot set its own)."""
        self.call(
            "PUT",
            f"/vens/{ven_id}",
            json={
                "objectType": "BL_VEN_REQUEST",
                "clientID": client_id,
                "venName": name,
                "targets": targets,
            },
        )

"""GridZones and DemandResponseEvents in the hub, for the signals package.

Synchronous calls through :func:`orchestrator.clusters.kube.call` (every failure is a
``KubeError``); async callers use ``asyncio.to_thread``. Zone status is written through the
status subresource with a JSON merge patch that names every field (a cleared field is sent as
``null``, so it disappears). DemandResponseEvents are server-side applied under the field
manager ``gridshift-signals``, so creating and revising one is the same idempotent call, and
cancelling one sets ``status.state`` to ``Cancelled``; the object stays for the audit trail.
"""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kubernetes import client
from pydantic import ValidationError

from orchestrator.api.common import API_VERSION, GROUP, VERSION
from orchestrator.api.drevent import DemandResponseEventSpec
from orchestrator.api.gridzone import GridZoneSpec, GridZoneStatus
from orchestrator.clusters.kube import APPLY, MERGE, KubeError, call

log = logging.getLogger(__name__)

HUB = "hub"
TIMEOUT = 10.0
ZONES = "gridzones"
DR_EVENTS = "demandresponseevents"
SIGNALS_FIELD_MANAGER = "gridshift-signals"


@dataclass(frozen=True, slots=True)
class HubZone:
    """A GridZone as read from the hub."""

    name: str
    generation: int | None
    spec: GridZoneSpec
    status: GridZoneStatus | None


class HubZones:
    """The hub's GridZones, DemandResponseEvents and the webhook's token Secret."""

    def __init__(self, api: client.ApiClient, *, cluster: str = HUB) -> None:
        self.cluster = cluster
        self.objects = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)

    def list_zones(self) -> list[HubZone]:
        """Every GridZone; one whose spec does not parse is logged and left out."""
        found = call(
            self.cluster,
            "list gridzones",
            self.objects.list_cluster_custom_object,
            GROUP,
            VERSION,
            ZONES,
            _request_timeout=TIMEOUT,
        )
        zones = []
        for item in found.get("items", []):
            meta = item.get("metadata", {})
            try:
                spec = GridZoneSpec.model_validate(item.get("spec") or {})
                status = (
                    GridZoneStatus.model_validate(item["status"]) if item.get("status") else None
                )
            except ValidationError as exc:
                log.warning("skipped gridzone=%s: %s", meta.get("name"), exc.errors()[:1])
                continue
            zones.append(HubZone(meta["name"], meta.get("generation"), spec, status))
        return zones

    def patch_zone_status(self, name: str, status: GridZoneStatus) -> None:
        """Replace the zone's status with ``status`` (status subresource, merge patch)."""
        body = {"status": status.model_dump(by_alias=True, mode="json")}
        call(
            self.cluster,
            f"patch status of gridzone {name}",
            self.objects.patch_cluster_custom_object_status,
            GROUP,
            VERSION,
            ZONES,
            name,
            body,
            _content_type=MERGE,
            _request_timeout=TIMEOUT,
        )

    def apply_dr_event(
        self, name: str, spec: DemandResponseEventSpec, *, labels: dict[str, str]
    ) -> None:
        """Create or revise the DemandResponseEvent ``name`` (server-side apply)."""
        body: dict[str, Any] = {
            "apiVersion": API_VERSION,
            "kind": "DemandResponseEvent",
            "metadata": {"name": name, "labels": labels},
            "spec": spec.wire(),
        }
        call(
            self.cluster,
            f"apply demandresponseevent {name}",
            self.objects.patch_cluster_custom_object,
            GROUP,
            VERSION,
            DR_EVENTS,
            name,
            body,
            field_manager=SIGNALS_FIELD_MANAGER,
            force=True,
            _content_type=APPLY,
            _request_timeout=TIMEOUT,
        )

    def cancel_dr_event(self, name: str, *, message: str, now: datetime) -> bool:
        """Mark the DemandResponseEvent ``name`` Cancelled; False when it does not exist."""
        status = {
            "state": "Cancelled",
            "message": message[:4096],
            "conditions": [
                {
                    "type": "Cancelled",
                    "status": "True",
                    "reason": "CancelledBySource",
                    "message": message[:4096],
                    "lastTransitionTime": now.isoformat(),
                }
            ],
        }
        try:
            call(
                self.cluster,
                f"cancel demandresponseevent {name}",
                self.objects.patch_cluster_custom_object_status,
                GROUP,
                VERSION,
                DR_EVENTS,
                name,
                {"status": status},
                _content_type=MERGE,
                _request_timeout=TIMEOUT,
            )
        except KubeError as exc:
            if exc.not_found:
                return False
            raise
        return True

    def secret_data(self, namespace: str, name: str) -> dict[str, str]:
        """A Secret's data, decoded as UTF-8; empty when the Secret does not exist."""
        try:
            secret = call(
                self.cluster,
                f"read Secret {namespace}/{name}",
                self.core.read_namespaced_secret,
                name,
                namespace,
                _request_timeout=TIMEOUT,
            )
        except KubeError as exc:
            if exc.not_found:
                return {}
            raise
        decoded = {}
        for key, value in (secret.data or {}).items():
            try:
                decoded[key] = base64.b64decode(value).decode()
            except (binascii.Error, UnicodeDecodeError):
                log.warning("skipped key %s of Secret %s/%s: not UTF-8", key, namespace, name)
        return decoded

"""The hub cluster: where gridshift's custom resources, Secrets and Events live.

:class:`HubClient` is the one client of the hub, for every layer: generic reads and status
patches of the custom resources, Events, Secrets, and the calls the signals package makes on
GridZones and DemandResponseEvents. Synchronous calls through
:func:`orchestrator.clusters.kube.call` (every failure is a ``KubeError``); async callers use
``asyncio.to_thread``. A zone's status is written through the status subresource with a JSON
merge patch that names every field (a cleared field is sent as ``null``, so it disappears).
DemandResponseEvents from signals are server-side applied under the field manager
``gridshift-signals``, so creating and revising one is the same idempotent call; cancelling
one sets ``status.state`` to ``Cancelled`` and the object stays for the audit trail.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError
from urllib3.exceptions import HTTPError

from orchestrator.api import conditions as cond
from orchestrator.api.common import API_VERSION, GROUP, VERSION
from orchestrator.api.conditions import set_condition
from orchestrator.api.drevent import DemandResponseEventSpec
from orchestrator.api.gridzone import GridZoneSpec, GridZoneStatus
from orchestrator.clusters.kube import APPLY, MERGE, KubeError, call

log = logging.getLogger(__name__)

TIMEOUT = 10.0
HUB = "hub"
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


class HubClient:
    """Synchronous calls to the hub; async callers use ``asyncio.to_thread``."""

    def __init__(self, api: client.ApiClient) -> None:
        self.api = api
        self.core = client.CoreV1Api(api)
        self.objects = client.CustomObjectsApi(api)

    # -- Secrets ---------------------------------------------------------------------------

    def secret_value(self, namespace: str, name: str, key: str) -> str:
        """One key of a Secret, decoded; KubeError (404) when the Secret or the key is missing."""
        data = (self._secret(namespace, name).data or {}).get(key)
        if data is None:
            raise KubeError(
                f"Secret {namespace}/{name} has no key {key!r}", status=404, cluster=HUB
            )
        return base64.b64decode(data).decode()

    def secret_data(self, namespace: str, name: str) -> dict[str, str]:
        """A Secret's data, decoded as UTF-8; empty when the Secret does not exist."""
        try:
            secret = self._secret(namespace, name)
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

    def secret_labels(self, namespace: str, name: str) -> dict[str, str]:
        """A Secret's labels; empty when the Secret does not exist."""
        try:
            secret = self._secret(namespace, name)
        except KubeError as exc:
            if exc.not_found:
                return {}
            raise
        return dict(secret.metadata.labels or {})

    def _secret(self, namespace: str, name: str) -> Any:
        return call(
            HUB,
            f"read Secret {namespace}/{name}",
            self.core.read_namespaced_secret,
            name,
            namespace,
            _request_timeout=TIMEOUT,
        )

    # -- custom objects --------------------------------------------------------------------

    def get(self, plural: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        """A custom object, or None when it does not exist."""
        try:
            if namespace is None:
                found = call(
                    HUB,
                    f"read {plural}/{name}",
                    self.objects.get_cluster_custom_object,
                    GROUP,
                    VERSION,
                    plural,
                    name,
                    _request_timeout=TIMEOUT,
                )
            else:
                found = call(
                    HUB,
                    f"read {plural} {namespace}/{name}",
                    self.objects.get_namespaced_custom_object,
                    GROUP,
                    VERSION,
                    namespace,
                    plural,
                    name,
                    _request_timeout=TIMEOUT,
                )
        except KubeError as exc:
            if exc.not_found:
                return None
            raise
        return dict(found)

    def list(self, plural: str) -> list[dict[str, Any]]:
        """Every custom object of a kind, in all namespaces."""
        found = call(
            HUB,
            f"list {plural}",
            self.objects.list_cluster_custom_object,
            GROUP,
            VERSION,
            plural,
            _request_timeout=TIMEOUT,
        )
        return [dict(item) for item in found.get("items", [])]

    def version(self, *, timeout: float = 3.0) -> str:
        """The hub's Kubernetes version (``GET /version``): a cheap proof that it answers."""
        found = call(
            HUB, "read version", client.VersionApi(self.api).get_code, _request_timeout=timeout
        )
        return str(found.git_version)

    def patch_status(
        self,
        plural: str,
        name: str,
        status: dict[str, Any],
        *,
        namespace: str | None = None,
        resource_version: str | None = None,
    ) -> dict[str, Any]:
        """Merge-patch an object's status; with ``resource_version``, only if unchanged (409)."""
        body: dict[str, Any] = {"status": status}
        if resource_version is not None:
            body["metadata"] = {"resourceVersion": resource_version}
        what = f"patch status of {plural} {namespace + '/' if namespace else ''}{name}"
        if namespace is None:
            done = call(
                HUB,
                what,
                self.objects.patch_cluster_custom_object_status,
                GROUP,
                VERSION,
                plural,
                name,
                body,
                _content_type=MERGE,
                _request_timeout=TIMEOUT,
            )
        else:
            done = call(
                HUB,
                what,
                self.objects.patch_namespaced_custom_object_status,
                GROUP,
                VERSION,
                namespace,
                plural,
                name,
                body,
                _content_type=MERGE,
                _request_timeout=TIMEOUT,
            )
        return dict(done)

    def follow(
        self, plural: str, namespace: str, name: str, *, timeout_seconds: int = 3600
    ) -> Iterator[dict[str, Any]]:
        """Every version of one namespaced object, as the API server writes them (a watch)."""
        stream = watch.Watch()
        try:
            for event in stream.stream(
                self.objects.list_namespaced_custom_object,
                GROUP,
                VERSION,
                namespace,
                plural,
                field_selector=f"metadata.name={name}",
                timeout_seconds=timeout_seconds,
            ):
                if event["type"] in ("ADDED", "MODIFIED"):
                    yield dict(event["object"])
                elif event["type"] == "DELETED":
                    return
        except (ApiException, HTTPError, OSError) as exc:
            raise KubeError(
                f"watching {plural} {namespace}/{name} failed: {exc}", status=0, cluster=HUB
            ) from exc
        finally:
            stream.stop()

    def create(self, plural: str, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        """Create a namespaced custom object (a Migration, say)."""
        done = call(
            HUB,
            f"create {plural} in {namespace}",
            self.objects.create_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            plural,
            body,
            _request_timeout=TIMEOUT,
        )
        return dict(done)

    def event(
        self,
        obj: dict[str, Any],
        *,
        reason: str,
        message: str,
        warning: bool = False,
        component: str = "gridshift",
    ) -> None:
        """Record a Kubernetes Event on ``obj`` (best effort: Events are never critical)."""
        meta = obj.get("metadata", {})
        namespace = meta.get("namespace") or "default"
        now = datetime.now(UTC)
        body = client.CoreV1Event(
            metadata=client.V1ObjectMeta(generate_name=f"{meta.get('name', 'gridshift')}."),
            involved_object=client.V1ObjectReference(
                api_version=obj.get("apiVersion"),
                kind=obj.get("kind"),
                name=meta.get("name"),
                namespace=meta.get("namespace"),
                uid=meta.get("uid"),
                resource_version=meta.get("resourceVersion"),
            ),
            reason=reason,
            message=message[:1024],
            type="Warning" if warning else "Normal",
            first_timestamp=now,
            last_timestamp=now,
            count=1,
            source=client.V1EventSource(component=component),
            reporting_component=component,
            reporting_instance=component,
        )
        try:
            call(
                HUB,
                f"record event {reason}",
                self.core.create_namespaced_event,
                namespace,
                body,
                _request_timeout=TIMEOUT,
            )
        except KubeError:
            return

    def namespace_labels(self) -> dict[str, dict[str, str]]:
        """Every namespace's labels, for MigrationPolicies' namespaceSelectors."""
        found = call(HUB, "list namespaces", self.core.list_namespace, _request_timeout=TIMEOUT)
        return {ns.metadata.name: dict(ns.metadata.labels or {}) for ns in found.items}

    # -- GridZones and DemandResponseEvents (the signals package) ---------------------------

    def list_zones(self) -> Sequence[HubZone]:
        """Every GridZone; one whose spec does not parse is logged and left out."""
        zones = []
        for item in self.list(ZONES):
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
        self.patch_status(ZONES, name, status.model_dump(by_alias=True, mode="json"))

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
            HUB,
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
        cancelled = set_condition(
            [],
            kind=cond.CANCELLED,
            status="True",
            reason=cond.CANCELLED_BY_SOURCE,
            message=message,
            now=now,
        )
        status = {
            "state": "Cancelled",
            "message": message[:4096],
            "conditions": [c.wire() for c in cancelled],
        }
        try:
            self.patch_status(DR_EVENTS, name, status)
        except KubeError as exc:
            if exc.not_found:
                return False
            raise
        return True

"""The hub cluster: where gridshift's custom resources, Secrets and Events live."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from orchestrator.api.common import GROUP, VERSION
from orchestrator.clusters.kube import MERGE, KubeError, call

TIMEOUT = 10.0
HUB = "hub"


class HubClient:
    """Synchronous calls to the hub; async callers use ``asyncio.to_thread``."""

    def __init__(self, api: client.ApiClient) -> None:
        self.api = api
        self.core = client.CoreV1Api(api)
        self.objects = client.CustomObjectsApi(api)

    def secret_value(self, namespace: str, name: str, key: str) -> str:
        """One key of a Secret, decoded."""
        secret = call(
            HUB,
            f"read Secret {namespace}/{name}",
            self.core.read_namespaced_secret,
            name,
            namespace,
            _request_timeout=TIMEOUT,
        )
        data = (secret.data or {}).get(key)
        if data is None:
            raise KubeError(
                f"Secret {namespace}/{name} has no key {key!r}", status=404, cluster=HUB
            )
        return base64.b64decode(data).decode()

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

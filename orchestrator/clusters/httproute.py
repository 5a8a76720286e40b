"""HTTPRoutes (``gateway.networking.k8s.io/v1``) in the edge cluster: read one, apply its weights.

gridshift owns two things on a route: ``spec.rules[0].backendRefs`` (one entry per member
cluster, each with its weight) and the ``parentRefs`` that attach it to the configured Gateway.
:meth:`HTTPRoutes.apply` sends a server-side apply under the field manager ``gridshift`` that
carries only those fields (and gridshift's labels), so hostnames, annotations and labels others
set stay theirs. The Gateway API CRD declares ``rules`` an atomic list, so the route's rules as a
whole are gridshift's: each workload gets a route of its own.

Routes cross this boundary as JSON objects (``dict[str, object]``): the traffic router, which
may not import the Kubernetes client, builds the backendRefs and reads the weights from them.
The official client is synchronous; async callers use ``asyncio.to_thread``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kubernetes import client

from orchestrator.clusters.kube import APPLY, FIELD_MANAGER, KubeError, call

GROUP = "gateway.networking.k8s.io"
VERSION = "v1"
PLURAL = "httproutes"
KIND = "HTTPRoute"
TIMEOUT = 10.0
"""Seconds any single call to the edge cluster may take."""


def httproute_manifest(
    namespace: str,
    name: str,
    *,
    parent_refs: Sequence[Mapping[str, object]],
    backend_refs: Sequence[Mapping[str, object]],
    labels: Mapping[str, str] | None = None,
) -> dict[str, object]:
    """The apply configuration gridshift sends: its labels, parentRefs and the one rule it owns."""
    metadata: dict[str, object] = {"name": name, "namespace": namespace}
    if labels:
        metadata["labels"] = dict(labels)
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "metadata": metadata,
        "spec": {
            "parentRefs": [dict(ref) for ref in parent_refs],
            "rules": [{"backendRefs": [dict(ref) for ref in backend_refs]}],
        },
    }


def _json_object(obj: Any) -> dict[str, object]:
    if not isinstance(obj, dict):
        return {}
    return {str(key): value for key, value in obj.items()}


class HTTPRoutes:
    """The HTTPRoutes of one cluster (the edge), through that cluster's API client."""

    def __init__(self, api: client.ApiClient, *, cluster: str, timeout: float = TIMEOUT) -> None:
        self.cluster = cluster
        self.timeout = timeout
        self._objects = client.CustomObjectsApi(api)

    def read(self, namespace: str, name: str) -> dict[str, object] | None:
        """The route ``namespace/name`` as the API server stores it; None when it does not exist.

        A cluster without the Gateway API answers 404 as well: that, too, is "no route yet".
        """
        try:
            obj = call(
                self.cluster,
                f"read HTTPRoute {namespace}/{name}",
                self._objects.get_namespaced_custom_object,
                GROUP,
                VERSION,
                namespace,
                PLURAL,
                name,
                _request_timeout=self.timeout,
            )
        except KubeError as exc:
            if exc.not_found:
                return None
            raise
        return _json_object(obj)

    def apply(
        self,
        namespace: str,
        name: str,
        *,
        parent_refs: Sequence[Mapping[str, object]],
        backend_refs: Sequence[Mapping[str, object]],
        labels: Mapping[str, str] | None = None,
    ) -> dict[str, object]:
        """Create or update the route by server-side apply; return it as the server stored it.

        ``backend_refs`` become ``spec.rules[0].backendRefs`` (each with its ``weight``).
        Conflicts are forced: these fields are gridshift's, and weights someone edited by hand
        are taken back at the next step, as a controller takes back the fields it owns.
        """
        manifest = httproute_manifest(
            namespace, name, parent_refs=parent_refs, backend_refs=backend_refs, labels=labels
        )
        try:
            obj = call(
                self.cluster,
                f"apply HTTPRoute {namespace}/{name}",
                self._objects.patch_namespaced_custom_object,
                GROUP,
                VERSION,
                namespace,
                PLURAL,
                name,
                manifest,
                field_manager=FIELD_MANAGER,
                force=True,
                _content_type=APPLY,
                _request_timeout=self.timeout,
            )
        except KubeError as exc:
            if not exc.not_found:
                raise
            raise KubeError(
                f"{exc}; is the Gateway API (HTTPRoute {GROUP}/{VERSION}) installed in cluster "
                f"{self.cluster!r}, and does namespace {namespace!r} exist?",
                status=exc.status,
                cluster=self.cluster,
            ) from exc
        return _json_object(obj)

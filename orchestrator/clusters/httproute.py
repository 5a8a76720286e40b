"""HTTPRoutes (``gateway.networking.k8s.io/v1``) in one cluster: read, apply, delete.

gridshift writes two kinds of route, each by server-side apply under the field manager
``gridshift`` and labelled as gridshift's: the edge route of a workload (its weights) and, in a
member cluster with an ingress gateway, the workload's route there. The Gateway API CRD
declares ``rules`` an atomic list, so the rules of a route gridshift applies are gridshift's as a
whole: each workload gets routes of its own. A route of the same name that gridshift did not
create is never taken over: :meth:`HTTPRoutes.apply` refuses it with an
:class:`~orchestrator.errors.ClusterError` (see :func:`orchestrator.clusters.owned.check_owned`).

Routes cross this boundary as JSON objects (``dict[str, object]``): the traffic router, which may
not import the Kubernetes client, builds the manifests and reads weights and status from them.
The official client is synchronous; async callers use ``asyncio.to_thread``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubernetes import client

from orchestrator.clusters.kube import APPLY, FIELD_MANAGER, KubeError, call, read_or_none
from orchestrator.clusters.owned import check_owned

GROUP = "gateway.networking.k8s.io"
VERSION = "v1"
PLURAL = "httproutes"
KIND = "HTTPRoute"
TIMEOUT = 10.0
"""Seconds any single call to the cluster may take."""


def _json_object(obj: Any) -> dict[str, object]:
    if not isinstance(obj, dict):
        return {}
    return {str(key): value for key, value in obj.items()}


class HTTPRoutes:
    """The HTTPRoutes of one cluster, through that cluster's API client."""

    def __init__(self, api: client.ApiClient, *, cluster: str, timeout: float = TIMEOUT) -> None:
        self.cluster = cluster
        self.timeout = timeout
        self._objects = client.CustomObjectsApi(api)

    def read(self, namespace: str, name: str) -> dict[str, object] | None:
        """The route ``namespace/name`` as the API server stores it (status included); None
        when it does not exist. A cluster without the Gateway API answers 404 as well."""
        obj = read_or_none(
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
        return None if obj is None else _json_object(obj)

    def apply(self, manifest: Mapping[str, object]) -> dict[str, object]:
        """Create or update the route by server-side apply; return it as the server stored it.

        Refuses a route of that name gridshift did not create. Conflicts are forced: these
        fields are gridshift's, and weights someone edited by hand are taken back at the next
        step, as a controller takes back the fields it owns.
        """
        metadata = manifest.get("metadata")
        if not isinstance(metadata, Mapping):
            raise ValueError("an HTTPRoute manifest needs metadata")
        namespace, name = str(metadata["namespace"]), str(metadata["name"])
        check_owned(
            self.read(namespace, name), kind=KIND, where=f"{namespace}/{name}", cluster=self.cluster
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
                dict(manifest),
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

    def delete(self, namespace: str, name: str) -> bool:
        """Delete the route if it is gridshift's; False when there was none."""
        found = self.read(namespace, name)
        if found is None:
            return False
        check_owned(found, kind=KIND, where=f"{namespace}/{name}", cluster=self.cluster)
        try:
            call(
                self.cluster,
                f"delete HTTPRoute {namespace}/{name}",
                self._objects.delete_namespaced_custom_object,
                GROUP,
                VERSION,
                namespace,
                PLURAL,
                name,
                _request_timeout=self.timeout,
            )
        except KubeError as exc:
            if exc.not_found:
                return False
            raise
        return True

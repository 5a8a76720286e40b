"""A workload's backends at the edge: one Service and one EndpointSlice per member cluster.

For a member cluster with an ingress gateway (``MemberCluster.spec.traffic.ingress``), the edge
reaches the workload through that gateway. gridshift owns, in the edge cluster and the
workload's namespace, a selector-less Service ``<workload>-<cluster>`` and an EndpointSlice of the
same name whose one endpoint is the gateway's address and port. The edge route's backendRef for
that cluster names the Service; the Gateway implementation reads the EndpointSlice. Both carry
gridshift's labels (``gridshift.io/managed``, the workload, the cluster) and are kept in step by
gridshift: applied before a route names them, deleted with the workload. An object of the same
name that gridshift did not create is never taken over (see owned.py).
"""

from __future__ import annotations

import hashlib
from typing import Any

from kubernetes import client

from orchestrator.api.common import MANAGED_LABEL, WORKLOAD_LABEL
from orchestrator.clusters.kube import APPLY, FIELD_MANAGER, KubeError, call, read_or_none
from orchestrator.clusters.owned import check_owned

CLUSTER_LABEL = "gridshift.io/cluster"
SLICE_MANAGER = "gridshift.io"
"""``endpointslice.kubernetes.io/managed-by``: keeps Kubernetes' own controllers off the slice."""
PORT_NAME = "http"
TIMEOUT = 10.0


def backend_name(workload: str, cluster: str) -> str:
    """``<workload>-<cluster>``, shortened with a hash when longer than a DNS label allows."""
    name = f"{workload}-{cluster}"
    if len(name) <= 63:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{workload[:40]}-{digest}-{cluster[:13]}".replace("--", "-")


def backend_manifests(
    namespace: str, workload: str, cluster: str, *, address: str, port: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The Service and the EndpointSlice of ``workload`` in ``cluster``, seen from the edge."""
    name = backend_name(workload, cluster)
    labels = {MANAGED_LABEL: "true", WORKLOAD_LABEL: workload, CLUSTER_LABEL: cluster}
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"ports": [{"name": PORT_NAME, "port": port, "targetPort": port}]},
    }
    endpoints = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {
                **labels,
                "kubernetes.io/service-name": name,
                "endpointslice.kubernetes.io/managed-by": SLICE_MANAGER,
            },
        },
        "addressType": "IPv4",
        "ports": [{"name": PORT_NAME, "port": port, "protocol": "TCP"}],
        "endpoints": [{"addresses": [address], "conditions": {"ready": True}}],
    }
    return service, endpoints


class EdgeBackends:
    """The Services and EndpointSlices gridshift keeps at the edge for its workloads."""

    def __init__(self, api: client.ApiClient, *, cluster: str) -> None:
        self.cluster = cluster
        self._core = client.CoreV1Api(api)
        self._discovery = client.DiscoveryV1Api(api)

    def _read(self, kind: str, namespace: str, name: str) -> dict[str, object] | None:
        read = {
            "Service": self._core.read_namespaced_service,
            "EndpointSlice": self._discovery.read_namespaced_endpoint_slice,
        }[kind]
        obj = read_or_none(self.cluster, f"read {kind} {namespace}/{name}", read, name,
                           namespace, _request_timeout=TIMEOUT)  # fmt: skip
        if obj is None:
            return None
        return {"metadata": {"labels": dict(obj.metadata.labels or {})}}

    def apply(self, namespace: str, workload: str, cluster: str, *, address: str, port: int) -> str:
        """The backend of ``workload`` in ``cluster`` in place; its Service's name."""
        service, endpoints = backend_manifests(
            namespace, workload, cluster, address=address, port=port
        )
        name = str(service["metadata"]["name"])
        for manifest, patch in (
            (service, self._core.patch_namespaced_service),
            (endpoints, self._discovery.patch_namespaced_endpoint_slice),
        ):
            kind = str(manifest["kind"])
            check_owned(
                self._read(kind, namespace, name), kind=kind, where=f"{namespace}/{name}",
                cluster=self.cluster,
            )  # fmt: skip
            call(
                self.cluster, f"apply {kind} {namespace}/{name}", patch, name, namespace,
                manifest, field_manager=FIELD_MANAGER, force=True, _content_type=APPLY,
                _request_timeout=TIMEOUT,
            )  # fmt: skip
        return name

    def delete(self, namespace: str, workload: str, cluster: str) -> None:
        """Remove the backend of ``workload`` in ``cluster`` (gridshift's objects only)."""
        name = backend_name(workload, cluster)
        for kind, remove in (
            ("EndpointSlice", self._discovery.delete_namespaced_endpoint_slice),
            ("Service", self._core.delete_namespaced_service),
        ):
            found = self._read(kind, namespace, name)
            if found is None:
                continue
            check_owned(found, kind=kind, where=f"{namespace}/{name}", cluster=self.cluster)
            try:
                call(self.cluster, f"delete {kind} {namespace}/{name}", remove, name, namespace,
                     _request_timeout=TIMEOUT)  # fmt: skip
            except KubeError as exc:
                if not exc.not_found:
                    raise

    def clusters(self, namespace: str, workload: str) -> list[str]:
        """The clusters that have a backend of ``workload`` at the edge now."""
        found = call(
            self.cluster,
            f"list Services of {namespace}/{workload}",
            self._core.list_namespaced_service,
            namespace,
            label_selector=f"{MANAGED_LABEL}=true,{WORKLOAD_LABEL}={workload}",
            _request_timeout=TIMEOUT,
        )
        return sorted(
            str((item.metadata.labels or {}).get(CLUSTER_LABEL))
            for item in found.items
            if (item.metadata.labels or {}).get(CLUSTER_LABEL)
        )

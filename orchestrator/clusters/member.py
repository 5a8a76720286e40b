"""One member cluster: the calls gridshift makes there (probe, apply, dry-run, scale, delete)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kubernetes import client

from orchestrator.api.common import WORKLOAD_LABEL
from orchestrator.clusters.httproute import HTTPRoutes
from orchestrator.clusters.kube import APPLY, FIELD_MANAGER, KubeError, call, read_or_none
from orchestrator.clusters.owned import check_owned

TIMEOUT = 10.0
"""Seconds any single call to a member cluster may take."""


@dataclass(frozen=True)
class Probe:
    """What a probe of a member cluster found."""

    version: str
    ready_nodes: int
    allocatable_gpus: int
    used_gpus: int
    used_gpus_by_workload: dict[tuple[str, str], int]

    def usable_gpus(self, max_gpus: int | None) -> int:
        """GPUs gridshift may use here: allocatable on Ready nodes, capped by ``maxGPUs``."""
        if max_gpus is None:
            return self.allocatable_gpus
        return min(self.allocatable_gpus, max_gpus)

    def free_gpus(self, max_gpus: int | None) -> int:
        """Usable GPUs no running pod requests (negative when pods hold more than the cap)."""
        return self.usable_gpus(max_gpus) - self.used_gpus


@dataclass(frozen=True)
class DeploymentState:
    """The part of a Deployment's spec and status a migration watches."""

    namespace: str
    name: str
    replicas: int
    ready_replicas: int
    updated_replicas: int
    generation: int
    observed_generation: int
    labels: dict[str, str]

    @property
    def settled(self) -> bool:
        """The controller has seen the latest spec and every replica is updated and ready."""
        return (
            self.observed_generation >= self.generation
            and self.ready_replicas >= self.replicas
            and self.updated_replicas >= self.replicas
        )


def deployment_state(obj: Any) -> DeploymentState:
    """A DeploymentState from a client V1Deployment."""
    status = obj.status
    return DeploymentState(
        namespace=obj.metadata.namespace,
        name=obj.metadata.name,
        replicas=int(obj.spec.replicas or 0),
        ready_replicas=int((status and status.ready_replicas) or 0),
        updated_replicas=int((status and status.updated_replicas) or 0),
        generation=int(obj.metadata.generation or 0),
        observed_generation=int((status and status.observed_generation) or 0),
        labels=dict(obj.metadata.labels or {}),
    )


def gauge_sum(text: str, names: Sequence[str]) -> int | None:
    """The sum of the Prometheus samples named ``names`` in ``text``; None when none is there."""
    wanted = set(names)
    total, seen = 0.0, False
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        metric = line.split("{", 1)[0].split(" ", 1)[0]
        if metric in wanted:
            try:
                total += float(line.rsplit(" ", 1)[1])
            except (IndexError, ValueError):
                continue
            seen = True
    return round(total) if seen else None


def _quantity(value: str | None) -> int:
    if not value:
        return 0
    try:
        return int(value)
    except ValueError:
        return 0


class MemberClient:
    """Synchronous calls to one member cluster; async callers use ``asyncio.to_thread``."""

    def __init__(self, name: str, api: client.ApiClient) -> None:
        self.name = name
        self.api = api
        self.routes = HTTPRoutes(api, cluster=name)
        """The cluster's HTTPRoutes (a workload's route to its ingress gateway)."""
        self.core = client.CoreV1Api(api)
        self.apps = client.AppsV1Api(api)
        self._namespaces: set[str] = set()
        """Namespaces this client has ensured: ensured once, unless found missing since."""

    def version(self) -> str:
        info = call(
            self.name,
            "read version",
            client.VersionApi(self.api).get_code,
            _request_timeout=TIMEOUT,
        )
        return str(info.git_version)

    def probe(self, gpu_resource: str = "nvidia.com/gpu") -> Probe:
        """Version, Ready nodes and GPUs: allocatable on Ready nodes, requested by live pods."""
        version = self.version()
        nodes = call(self.name, "list nodes", self.core.list_node, _request_timeout=TIMEOUT)
        ready = [
            n
            for n in nodes.items
            if any(c.type == "Ready" and c.status == "True" for c in (n.status.conditions or []))
            and not n.spec.unschedulable
        ]
        allocatable = sum(_quantity((n.status.allocatable or {}).get(gpu_resource)) for n in ready)
        pods = call(
            self.name,
            "list pods",
            self.core.list_pod_for_all_namespaces,
            field_selector="status.phase!=Succeeded,status.phase!=Failed",
            _request_timeout=TIMEOUT,
        )
        used = 0
        by_workload: dict[tuple[str, str], int] = {}
        for pod in pods.items:
            if not pod.spec.node_name:
                continue  # not scheduled: holds no GPU yet
            gpus = sum(
                _quantity(((c.resources and c.resources.requests) or {}).get(gpu_resource))
                for c in pod.spec.containers
            )
            used += gpus
            workload = (pod.metadata.labels or {}).get(WORKLOAD_LABEL)
            if workload and gpus:
                key = (pod.metadata.namespace, workload)
                by_workload[key] = by_workload.get(key, 0) + gpus
        return Probe(version, len(ready), allocatable, used, by_workload)

    def ensure_namespace(self, namespace: str, *, once: bool = False) -> None:
        """Server-side apply the namespace; with ``once``, skip it when this client already did.

        After a ``not found`` answer in a namespace ensured once, call :meth:`forget_namespace`
        so the next ``once`` call applies it again.
        """
        if once and namespace in self._namespaces:
            return
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
        call(
            self.name,
            f"apply namespace {namespace}",
            self.core.patch_namespace,
            namespace,
            body,
            field_manager=FIELD_MANAGER,
            force=True,
            _content_type=APPLY,
            _request_timeout=TIMEOUT,
        )
        self._namespaces.add(namespace)

    def forget_namespace(self, namespace: str) -> None:
        """The namespace may be gone (deleted since it was ensured): ensure it again next time."""
        self._namespaces.discard(namespace)

    def apply(self, manifest: dict[str, Any], *, dry_run: bool = False) -> None:
        """Server-side apply a Deployment or Service under gridshift's field manager."""
        kind = manifest["kind"]
        ns, name = manifest["metadata"]["namespace"], manifest["metadata"]["name"]
        patch = {
            "Deployment": self.apps.patch_namespaced_deployment,
            "Service": self.core.patch_namespaced_service,
        }[kind]
        extra = {"dry_run": "All"} if dry_run else {}
        call(
            self.name,
            f"{'dry-run ' if dry_run else ''}apply {kind} {ns}/{name}",
            patch,
            name,
            ns,
            manifest,
            field_manager=FIELD_MANAGER,
            force=True,
            _content_type=APPLY,
            _request_timeout=TIMEOUT,
            **extra,
        )

    def read_deployment(self, namespace: str, name: str) -> DeploymentState | None:
        try:
            obj = call(
                self.name,
                f"read Deployment {namespace}/{name}",
                self.apps.read_namespaced_deployment,
                name,
                namespace,
                _request_timeout=TIMEOUT,
            )
        except KubeError as exc:
            if exc.not_found:
                return None
            raise
        return deployment_state(obj)

    def scale(self, namespace: str, name: str, replicas: int) -> None:
        """Set a Deployment's replicas through its scale subresource."""
        call(
            self.name,
            f"scale Deployment {namespace}/{name} to {replicas}",
            self.apps.patch_namespaced_deployment_scale,
            name,
            namespace,
            {"spec": {"replicas": replicas}},
            _request_timeout=TIMEOUT,
        )

    def in_flight(
        self, namespace: str, workload: str, *, port: int, metrics: Sequence[str]
    ) -> int | None:
        """Requests in flight on the workload's running pods: the sum of the gauges ``metrics``
        on each pod's ``/metrics`` (read through the API server's pod proxy). None when a pod
        does not answer or shows none of them: then nobody knows."""
        pods = call(
            self.name,
            f"list pods of {namespace}/{workload}",
            self.core.list_namespaced_pod,
            namespace,
            label_selector=f"{WORKLOAD_LABEL}={workload}",
            _request_timeout=TIMEOUT,
        )
        total = 0
        for pod in pods.items:
            if (pod.status and pod.status.phase) != "Running":
                continue
            try:
                text = call(
                    self.name,
                    f"read /metrics of pod {namespace}/{pod.metadata.name}",
                    self.core.connect_get_namespaced_pod_proxy_with_path,
                    f"{pod.metadata.name}:{port}",
                    namespace,
                    "metrics",
                    _request_timeout=TIMEOUT,
                )
            except KubeError:
                return None
            found = gauge_sum(str(text), metrics)
            if found is None:
                return None
            total += found
        return total

    def delete(self, kind: str, namespace: str, name: str) -> bool:
        """Delete a Deployment or Service gridshift created; False when it was already gone.

        One of that name gridshift did not create is refused (ForeignObjectError)."""
        read = {
            "Deployment": self.apps.read_namespaced_deployment,
            "Service": self.core.read_namespaced_service,
        }[kind]
        found = read_or_none(self.name, f"read {kind} {namespace}/{name}", read, name,
                             namespace, _request_timeout=TIMEOUT)  # fmt: skip
        if found is None:
            return False
        labels = dict(found.metadata.labels or {})
        check_owned(
            {"metadata": {"labels": labels}}, kind=kind, where=f"{namespace}/{name}",
            cluster=self.name,
        )  # fmt: skip
        remove = {
            "Deployment": self.apps.delete_namespaced_deployment,
            "Service": self.core.delete_namespaced_service,
        }[kind]
        try:
            call(
                self.name,
                f"delete {kind} {namespace}/{name}",
                remove,
                name,
                namespace,
                propagation_policy="Background",
                _request_timeout=TIMEOUT,
            )
        except KubeError as exc:
            if exc.not_found:
                return False
            raise
        return True

"""What an InferenceWorkload becomes in a member cluster: a Deployment, a Service and, behind
an ingress gateway, an HTTPRoute.

Pure functions from the workload's spec to the manifests gridshift applies (server-side apply,
field manager ``gridshift``). Every object carries labels naming its workload and, when a
migration made it, the migration's uid.

What gridshift adds to the pod template, so a model server can be moved without cutting a
user's request:

- ``GRIDSHIFT_CLUSTER`` in every container's environment: the member cluster it runs in;
- for a workload users reach through the edge (``spec.traffic``): a ``preStop`` sleep of
  :data:`PRESTOP_SECONDS` on containers that have no ``preStop`` of their own (the endpoints of
  a terminating pod are removed asynchronously: the pause lets the gateways stop sending before
  the server stops accepting), and ``terminationGracePeriodSeconds`` of at least the preStop
  plus ``drainSeconds`` plus :data:`SHUTDOWN_MARGIN_SECONDS`, so a server that finishes its
  streams on SIGTERM (as vLLM does with ``--shutdown-timeout``) gets the time to.
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any

from orchestrator.api.common import MANAGED_LABEL, WORKLOAD_LABEL
from orchestrator.api.workload import InferenceWorkloadSpec
from orchestrator.migration.routers.base import WORKLOAD_HEADER

MANAGED = MANAGED_LABEL
WORKLOAD = WORKLOAD_LABEL
WORKLOAD_NAMESPACE = "gridshift.io/workload-namespace"
MIGRATION = "gridshift.io/migration"


def labels(namespace: str, name: str, migration_uid: str | None = None) -> dict[str, str]:
    """The labels of everything gridshift creates for one workload."""
    found = {MANAGED: "true", WORKLOAD: name, WORKLOAD_NAMESPACE: namespace}
    if migration_uid:
        found[MIGRATION] = migration_uid
    return found


PRESTOP_SECONDS = 5
SHUTDOWN_MARGIN_SECONDS = 10
CLUSTER_ENV = "GRIDSHIFT_CLUSTER"


def _pod_spec(pod: dict[str, Any], spec: InferenceWorkloadSpec, cluster: str) -> None:
    """Add gridshift's environment, preStop and grace period to a pod spec (in place)."""
    for container in pod.get("containers") or []:
        env = [e for e in container.get("env") or [] if e.get("name") != CLUSTER_ENV]
        container["env"] = [*env, {"name": CLUSTER_ENV, "value": cluster}]
        if spec.traffic is not None:
            lifecycle = container.setdefault("lifecycle", {})
            lifecycle.setdefault("preStop", {"sleep": {"seconds": PRESTOP_SECONDS}})
    if spec.traffic is not None:
        floor = PRESTOP_SECONDS + spec.migration.drain_seconds + SHUTDOWN_MARGIN_SECONDS
        pod["terminationGracePeriodSeconds"] = max(
            int(pod.get("terminationGracePeriodSeconds") or 30), floor
        )


def deployment(
    namespace: str,
    name: str,
    spec: InferenceWorkloadSpec,
    *,
    cluster: str,
    replicas: int | None = None,
    migration_uid: str | None = None,
) -> dict[str, Any]:
    """The apps/v1 Deployment of a workload in ``cluster``; ``replicas`` defaults to the
    template's."""
    template = spec.template.model_dump(by_alias=True, exclude_none=True, mode="json")
    pod_template: dict[str, Any] = copy.deepcopy(template.pop("template"))
    template.pop("replicas", None)
    template.pop("selector", None)
    metadata = pod_template.setdefault("metadata", {})
    metadata["labels"] = {**metadata.get("labels", {}), WORKLOAD: name}
    _pod_spec(pod_template.setdefault("spec", {}), spec, cluster)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels(namespace, name, migration_uid),
        },
        "spec": {
            **template,
            "replicas": spec.template.replicas if replicas is None else replicas,
            "selector": {"matchLabels": {WORKLOAD: name}},
            "template": pod_template,
        },
    }


def service(namespace: str, name: str, spec: InferenceWorkloadSpec) -> dict[str, Any] | None:
    """The Service in front of the workload's pods, or None when it exposes no port."""
    if not spec.service_ports:
        return None
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": labels(namespace, name)},
        "spec": {
            "selector": {WORKLOAD: name},
            "ports": [
                {
                    "name": p.name,
                    "port": p.port,
                    "targetPort": p.target_port,
                    "protocol": p.protocol,
                }
                for p in spec.service_ports
            ],
        },
    }


def member_route_name(name: str) -> str:
    """The name of a workload's route in a member cluster: not the workload's own name, which
    its edge route bears (a hub that is also a member holds both)."""
    route = f"{name}-ingress"
    if len(route) <= 63:
        return route
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[:46]}-{digest}-ingress"


def member_route(
    namespace: str,
    name: str,
    spec: InferenceWorkloadSpec,
    *,
    gateway: tuple[str, str],
    migration_uid: str | None = None,
) -> dict[str, Any] | None:
    """The workload's HTTPRoute behind a member cluster's ingress gateway (``gateway`` is its
    namespace and name): requests carrying the workload header go to the workload's Service.
    None when the workload is not reached through the edge or exposes no port."""
    port = spec.traffic_port()
    if spec.traffic is None or port is None:
        return None
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {
            "name": member_route_name(name),
            "namespace": namespace,
            "labels": labels(namespace, name, migration_uid),
        },
        "spec": {
            "parentRefs": [
                {
                    "group": "gateway.networking.k8s.io",
                    "kind": "Gateway",
                    "namespace": gateway[0],
                    "name": gateway[1],
                }
            ],
            "rules": [
                {
                    "matches": [
                        {"headers": [{"name": WORKLOAD_HEADER, "value": f"{namespace}/{name}"}]}
                    ],
                    "backendRefs": [{"name": name, "port": port}],
                }
            ],
        },
    }

"""What an InferenceWorkload becomes in a member cluster: a Deployment and a Service.

Pure functions from the workload's spec to the manifests gridshift applies (server-side apply,
field manager ``gridshift``). Every object carries labels naming its workload and, when a
migration made it, the migration's uid.
"""

from __future__ import annotations

import copy
from typing import Any

from orchestrator.api.common import WORKLOAD_LABEL
from orchestrator.api.workload import InferenceWorkloadSpec

MANAGED = "gridshift.io/managed"
WORKLOAD = WORKLOAD_LABEL
WORKLOAD_NAMESPACE = "gridshift.io/workload-namespace"
MIGRATION = "gridshift.io/migration"


def labels(namespace: str, name: str, migration_uid: str | None = None) -> dict[str, str]:
    """The labels of everything gridshift creates for one workload."""
    found = {MANAGED: "true", WORKLOAD: name, WORKLOAD_NAMESPACE: namespace}
    if migration_uid:
        found[MIGRATION] = migration_uid
    return found


def deployment(
    namespace: str,
    name: str,
    spec: InferenceWorkloadSpec,
    *,
    replicas: int | None = None,
    migration_uid: str | None = None,
) -> dict[str, Any]:
    """The apps/v1 Deployment of a workload; ``replicas`` defaults to the template's."""
    template = spec.template.model_dump(by_alias=True, exclude_none=True, mode="json")
    pod_template: dict[str, Any] = copy.deepcopy(template.pop("template"))
    template.pop("replicas", None)
    template.pop("selector", None)
    metadata = pod_template.setdefault("metadata", {})
    metadata["labels"] = {**metadata.get("labels", {}), WORKLOAD: name}
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

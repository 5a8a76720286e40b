"""Manual moves from the command line: create a Migration (`gridshift migrate`)."""

from __future__ import annotations

from pathlib import Path

from orchestrator.api.migration import Reason, new_migration
from orchestrator.clusters.hub import HubClient
from orchestrator.clusters.kube import client_from_file
from orchestrator.errors import ClusterError


def start_migration(
    kubeconfig: Path,
    namespace: str,
    workload: str,
    *,
    to: str,
    deadline_seconds: int = 180,
    reason: str = "moved by hand",
) -> str:
    """Create a Migration of ``workload`` from where it runs to ``to``; return its name."""
    hub = HubClient(client_from_file(kubeconfig))
    found = hub.get("inferenceworkloads", workload, namespace)
    if found is None:
        raise ClusterError(f"no InferenceWorkload {namespace}/{workload}")
    source = (found.get("status") or {}).get("currentCluster")
    if not source:
        raise ClusterError(f"{namespace}/{workload} is not placed yet; wait for it to run")
    if source == to:
        raise ClusterError(f"{namespace}/{workload} already runs in {to}")
    body = new_migration(
        namespace=namespace,
        workload=workload,
        from_cluster=source,
        to_cluster=to,
        deadline_seconds=deadline_seconds,
        reason=Reason(trigger="Manual", message=reason[:1024]),
        name_hint=f"to-{to[:12]}",
    )
    created = hub.create("migrations", namespace, body)
    return str(created["metadata"]["name"])

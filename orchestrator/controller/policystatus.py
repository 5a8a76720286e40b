"""MigrationPolicies' status: how many workloads each selects, its moves now and last hour."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from orchestrator.clusters.hub import HubClient
from orchestrator.clusters.kube import KubeError
from orchestrator.controller.snapshot import HubObjects
from orchestrator.planner.model import Plan, Snapshot

log = logging.getLogger(__name__)


def counts(snapshot: Snapshot, now: datetime) -> dict[str, dict[str, int]]:
    """matchedWorkloads, activeMigrations and movesLastHour of every policy."""
    hour_ago = now - timedelta(hours=1)
    found = {
        p.name: {"matchedWorkloads": 0, "activeMigrations": 0, "movesLastHour": 0}
        for p in snapshot.policies
    }
    for workload in snapshot.workloads:
        if workload.policy in found:
            found[workload.policy]["matchedWorkloads"] += 1
    for move in snapshot.in_flight:
        if move.policy in found:
            found[move.policy]["activeMigrations"] += 1
    for recent in snapshot.recent_moves:
        if recent.policy in found and recent.started_at >= hour_ago:
            found[recent.policy]["movesLastHour"] += 1
    return found


def update(
    hub: HubClient, objects: HubObjects, snapshot: Snapshot, plan: Plan, now: datetime
) -> None:
    """Write each policy's counts when they changed (blocking; run in a thread)."""
    by_name = {p["metadata"]["name"]: p for p in objects.policies}
    for name, figures in counts(snapshot, now).items():
        status: dict[str, Any] = dict(by_name.get(name, {}).get("status") or {})
        generation = by_name.get(name, {}).get("metadata", {}).get("generation")
        if (
            all(status.get(k) == v for k, v in figures.items())
            and status.get("observedGeneration") == generation
        ):
            continue
        patch: dict[str, Any] = {**figures, "lastDecisionTime": plan.at.isoformat()}
        if generation is not None:
            patch["observedGeneration"] = generation
        try:
            hub.patch_status("migrationpolicies", name, patch)
        except KubeError as exc:
            log.warning("migrationpolicy=%s status not written: %s", name, exc)

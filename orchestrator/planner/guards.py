"""Who may move at all, and the per-policy guards against churn.

Each check returns ``None`` when it lets the move through, else a sentence for the decision;
checks that end at a known time also ask the draft to plan again then.
"""

from __future__ import annotations

from datetime import timedelta

from orchestrator.planner.draft import Draft, duration
from orchestrator.planner.model import Policy, Workload
from orchestrator.planner.scoring import hhmm
from orchestrator.planner.view import HOURLY_WINDOW


def gate(draft: Draft, workload: Workload) -> str | None:
    """Why the planner will not consider moving ``workload`` at all (None: it will)."""
    view = draft.view
    if workload.policy is None:
        return "no MigrationPolicy selects it"
    if workload.policy not in view.policies:
        return f"its MigrationPolicy {workload.policy} does not exist"
    if not workload.movable:
        return "it is pinned to its cluster (movable: false)"
    moving = view.in_flight.get(workload.key)
    if moving is not None:
        return (
            f"migration {moving.namespace}/{moving.name} is moving it from {moving.from_cluster}"
            f" to {moving.to_cluster} ({moving.phase})"
        )
    if workload.current_cluster is None:
        return "it runs in no cluster yet"
    if workload.current_cluster not in view.clusters:
        return f"it runs in {workload.current_cluster}, which is not a known member cluster"
    if not view.clusters[workload.current_cluster].reachable:
        return (
            f"its cluster {workload.current_cluster} is unreachable: nothing is moved out of a "
            "cluster gridshift cannot drain; the plan resumes when it answers again"
        )
    if view.zone_of(workload.current_cluster) not in view.zones:
        return f"the zone of cluster {workload.current_cluster} is unknown"
    return None


def cooldown(draft: Draft, workload: Workload, policy: Policy) -> str | None:
    """A move that failed recently is not retried before the policy's cooldown ends."""
    failed = workload.last_failed_at
    secs = policy.spec.guards.cooldown_seconds
    if failed is None or secs == 0:
        return None
    ends = failed + timedelta(seconds=secs)
    if draft.view.now >= ends:
        return None
    draft.wake_at(ends)
    return (
        f"its last move failed at {hhmm(failed)}; cooldown of {duration(secs)} ends at {hhmm(ends)}"
    )


def dwell(draft: Draft, workload: Workload, policy: Policy) -> str | None:
    """A workload stays where it arrived for the policy's minimum dwell."""
    placed = workload.placed_at
    secs = policy.spec.guards.min_dwell_seconds
    if placed is None or secs == 0:
        return None
    ends = placed + timedelta(seconds=secs)
    if draft.view.now >= ends:
        return None
    draft.wake_at(ends)
    return (
        f"it arrived in {workload.current_cluster} at {hhmm(placed)}; minimum dwell of "
        f"{duration(secs)} ends at {hhmm(ends)}"
    )


def limits(draft: Draft, policy: Policy) -> str | None:
    """Concurrent and hourly limits of the policy, counting this plan's moves."""
    guards = policy.spec.guards
    running = draft.booking.concurrent(policy.name)
    if running >= guards.max_concurrent:
        return (
            f"policy {policy.name} has {running} moves under way, its maxConcurrent is "
            f"{guards.max_concurrent}"
        )
    used = draft.booking.last_hour(policy.name)
    if used >= guards.max_moves_per_hour:
        recent = draft.view.recent_per_policy.get(policy.name, ())
        if recent:
            draft.wake_at(recent[0] + HOURLY_WINDOW)
        return (
            f"policy {policy.name} started {used} moves in the last hour, its maxMovesPerHour is "
            f"{guards.max_moves_per_hour}"
        )
    return None

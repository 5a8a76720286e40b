"""Which MigrationPolicy governs a workload, and how long its moves take.

Both are pure: the controller passes labels, policies and past durations, and gets a name or a
number back.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from orchestrator.api.common import LabelSelector, LabelSelectorRequirement
from orchestrator.planner.model import DEFAULT_MIGRATION_SECONDS, Policy

LEARNED_QUANTILE = 0.95
"""The learned migration time is this quantile of a workload's completed moves."""


def _requirement_holds(req: LabelSelectorRequirement, labels: Mapping[str, str]) -> bool:
    present = req.key in labels
    if req.operator == "In":
        return present and labels[req.key] in req.values
    if req.operator == "NotIn":
        return not present or labels[req.key] not in req.values
    if req.operator == "Exists":
        return present
    return not present  # DoesNotExist


def selector_matches(selector: LabelSelector, labels: Mapping[str, str]) -> bool:
    """True when ``labels`` satisfy ``selector`` (Kubernetes semantics; empty matches all)."""
    for key, value in selector.match_labels.items():
        if labels.get(key) != value:
            return False
    return all(_requirement_holds(req, labels) for req in selector.match_expressions)


def policy_for(
    workload_labels: Mapping[str, str],
    namespace_labels: Mapping[str, str],
    policies: Sequence[Policy],
) -> str | None:
    """The name of the highest-priority policy selecting the workload (ties: the first name)."""
    best: Policy | None = None
    for policy in policies:
        spec = policy.spec
        if not selector_matches(spec.workload_selector, workload_labels):
            continue
        if not selector_matches(spec.namespace_selector, namespace_labels):
            continue
        if best is None or (-spec.priority, policy.name) < (-best.spec.priority, best.name):
            best = policy
    return None if best is None else best.name


def learned_seconds(durations: Sequence[float]) -> float:
    """The p95 of completed-move durations (nearest rank), or the default with no history.

    Durations that are not finite or not positive are ignored: they are recording errors, not
    moves.
    """
    usable = sorted(d for d in durations if math.isfinite(d) and d > 0)
    if not usable:
        return DEFAULT_MIGRATION_SECONDS
    rank = math.ceil(LEARNED_QUANTILE * len(usable))
    return usable[max(rank, 1) - 1]

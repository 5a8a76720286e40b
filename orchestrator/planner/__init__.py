"""The planner: a pure function from (snapshot, now) to a plan. It imports no I/O library.

``plan(snapshot, now)`` returns the Migration intents to create, one decision per workload with
every candidate cluster scored by term, what it does for each demand-response event, and when to
plan again. ``policy_for`` picks a workload's MigrationPolicy from labels; ``learned_seconds``
turns past move durations into the learned migration time.
"""

from __future__ import annotations

from orchestrator.planner.model import (
    DEFAULT_MIGRATION_SECONDS,
    TERMS,
    Action,
    Candidate,
    Cluster,
    Decision,
    DemandResponse,
    EventOutlook,
    ForecastSlot,
    InFlight,
    Intent,
    LevelChange,
    PeakWindow,
    Plan,
    Policy,
    RecentMove,
    Snapshot,
    Workload,
    Zone,
)
from orchestrator.planner.plan import plan
from orchestrator.planner.selection import learned_seconds, policy_for, selector_matches

__all__ = [
    "DEFAULT_MIGRATION_SECONDS",
    "TERMS",
    "Action",
    "Candidate",
    "Cluster",
    "Decision",
    "DemandResponse",
    "EventOutlook",
    "ForecastSlot",
    "InFlight",
    "Intent",
    "LevelChange",
    "PeakWindow",
    "Plan",
    "Policy",
    "RecentMove",
    "Snapshot",
    "Workload",
    "Zone",
    "learned_seconds",
    "plan",
    "policy_for",
    "selector_matches",
]

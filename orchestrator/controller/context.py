"""What every handler needs, built once per operator process and passed as kopf's ``memo``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from orchestrator.clusters.hub import HubClient
from orchestrator.clusters.registry import MemberRegistry
from orchestrator.ledger.writer import LedgerWriter
from orchestrator.migration.capacity import CapacityBook
from orchestrator.migration.recorder import Recorder
from orchestrator.migration.routers.base import TrafficRouter
from orchestrator.settings import Settings

if TYPE_CHECKING:
    from orchestrator.controller.dr import Report
    from orchestrator.controller.planning import Planner


@dataclass
class Context:
    """The operator's long-lived parts."""

    settings: Settings
    hub: HubClient
    registry: MemberRegistry
    ledger: LedgerWriter
    capacity: CapacityBook
    recorder: Recorder
    routers: Mapping[str, TrafficRouter]
    probe_failures: dict[str, int] = field(default_factory=dict)
    planner: Planner | None = None
    dr_report: Report | None = None
    """How DemandResponse outcomes reach the grid operator (set once the signals run)."""

"""What every handler needs, built once per operator process and passed as kopf's ``memo``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from orchestrator.clusters.hub import HubClient
from orchestrator.clusters.registry import MemberRegistry
from orchestrator.ledger.handle import Ledger
from orchestrator.migration.engine import Engine
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
    ledger: Ledger
    engine: Engine
    probe_failures: dict[str, int] = field(default_factory=dict)
    planner: Planner | None = None
    dr_report: Report | None = None
    """How DemandResponse outcomes reach the grid operator (set once the signals run)."""

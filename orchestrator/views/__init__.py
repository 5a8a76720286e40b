"""How the ``gridshift`` command shows things: rich renderables built from plain values.

Pure rendering: every function takes values (rows gathered by :mod:`orchestrator.overview`,
ledger records, a planner :class:`~orchestrator.planner.model.Plan`) and the time ``now``, and
returns rich renderables. Nothing here reads a cluster or the database, and only the progress
widgets read the clock, so the same values always render the same screen.

- :mod:`~orchestrator.views.status`: zones, clusters, workloads, migrations in flight;
- :mod:`~orchestrator.views.ledger`: migration history and planner decisions from the ledger;
- :mod:`~orchestrator.views.plan`: a plan with its intents, decisions and candidate scores;
- :mod:`~orchestrator.views.progress`: a spinner per cluster while the local fleet starts.
"""

from __future__ import annotations

from orchestrator.views.ledger import decisions_view, history_table, phase_durations
from orchestrator.views.plan import render_plan
from orchestrator.views.progress import StartProgress
from orchestrator.views.status import (
    ClusterRow,
    MoveRow,
    Overview,
    WorkloadRow,
    ZoneRow,
    elapsed,
    make_console,
    render_move,
    render_overview,
    seconds,
)

__all__ = [
    "ClusterRow",
    "MoveRow",
    "Overview",
    "StartProgress",
    "WorkloadRow",
    "ZoneRow",
    "decisions_view",
    "elapsed",
    "history_table",
    "make_console",
    "phase_durations",
    "render_move",
    "render_overview",
    "render_plan",
    "seconds",
]

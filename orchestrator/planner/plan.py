"""``plan(snapshot, now)``: the order in which the rules run, and the plan they make.

1. Demand-response events, highest priority first (then start, then name): live policies.
2. Every other workload, in name order: peak, pre-emption, price spread, return home.
3. The same two steps for dry-run policies, against what the live moves left, so a dry run
   never takes GPUs or kW a live move could use.

Each step books GPUs as it adds intents; see :mod:`orchestrator.planner.demand` and
:mod:`orchestrator.planner.rules` for the rules themselves.
"""

from __future__ import annotations

from datetime import datetime

from orchestrator.planner.demand import respond
from orchestrator.planner.draft import Draft
from orchestrator.planner.model import EventOutlook, Plan, Snapshot
from orchestrator.planner.rules import decide
from orchestrator.planner.view import View


def plan(snapshot: Snapshot, now: datetime) -> Plan:
    """The moves to make now, a decision per workload, and when to plan again."""
    view = View.of(snapshot, now)
    draft = Draft.start(view)
    events = (*view.events_in_force, *view.events_ahead)
    workloads = sorted(snapshot.workloads, key=lambda w: (w.namespace, w.name))
    outlooks: list[EventOutlook] = []
    for event in events:
        outlooks.append(respond(draft, event, live=True))
    for workload in workloads:
        if workload.key not in draft.decisions:
            decide(draft, workload, live=True)
    for event, outlook in zip(events, outlooks, strict=True):
        respond(draft, event, live=False, missing=outlook.missing_kw)
    for workload in workloads:
        if workload.key not in draft.decisions:
            decide(draft, workload, live=False)
    decisions = tuple(
        draft.decisions[key]
        for key in sorted(draft.decisions, key=lambda k: tuple(k.split("/", 1)))
    )
    intents = tuple(sorted(draft.intents, key=lambda i: (i.namespace, i.workload)))
    return Plan(
        at=now,
        intents=intents,
        decisions=decisions,
        events=tuple(outlooks),
        wake_at=draft.wake_times(),
    )

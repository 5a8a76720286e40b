"""The planner's plan as ``gridshift plan --explain`` shows it."""

from __future__ import annotations

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from orchestrator.planner.model import Plan
from orchestrator.views.ledger import terms_table

# -- the planner's plan ------------------------------------------------------------------------


def intents_table(plan: Plan) -> Table:
    """The migrations the plan asks for."""
    table = Table(title="Intents (migrations to create)", title_justify="left")
    for column in ("workload", "from → to", "trigger", "kW", "GPUs", "deadline", "why"):
        table.add_column(column, overflow="fold")
    for intent in plan.intents:
        trigger = intent.trigger + (" (dry run)" if intent.dry_run else "")
        table.add_row(
            f"{intent.namespace}/{intent.workload}",
            f"{intent.from_cluster} → {intent.to_cluster}",
            trigger,
            f"{intent.kw:.1f}",
            str(intent.gpus),
            f"{intent.deadline_seconds} s",
            intent.message,
        )
    return table


def events_table(plan: Plan) -> Table:
    """What the plan does for each demand-response event."""
    table = Table(title="Demand-response events", title_justify="left")
    for column in ("event", "zone", "target kW", "shed kW", "planned kW", "missing kW"):
        table.add_column(column, overflow="fold")
    for event in plan.events:
        table.add_row(
            event.name,
            event.zone,
            f"{event.target_kw:.1f}",
            f"{event.shed_kw:.1f}",
            f"{event.planned_kw:.1f}",
            Text(f"{event.missing_kw:.1f}", style="bold red" if event.missing_kw > 0 else "green"),
        )
    return table


def render_plan(plan: Plan, *, explain: bool = True) -> list[RenderableType]:
    """The plan as ``gridshift plan --explain`` shows it: intents, events, then per workload its
    decision, reason and every candidate's total and terms (ineligible ones with why not).
    Without ``explain``, only the intents and events."""
    parts: list[RenderableType] = [
        Text(f"plan at {plan.at.isoformat(timespec='seconds')}", style="bold")
    ]
    parts.append(
        intents_table(plan) if plan.intents else Text("No migration planned.", style="dim")
    )
    if plan.events:
        parts.append(events_table(plan))
    for decision in plan.decisions if explain else ():
        parts.append(
            Text.assemble(
                (f"{decision.namespace}/{decision.workload}", "bold"),
                "  ",
                (decision.action, "bold cyan"),
                f" → {decision.chosen_cluster}" if decision.chosen_cluster else "",
                f"  [{decision.trigger}]" if decision.trigger else "",
                f"  {decision.reason}",
            )
        )
        if decision.candidates:
            why_not = {
                c.cluster: (c.why_not or "not eligible")
                for c in decision.candidates
                if not c.eligible
            }
            parts.append(
                terms_table(decision.candidates, chosen=decision.chosen_cluster, why_not=why_not)
            )
    if plan.wake_at:
        parts.append(
            Text(
                "plan again at " + ", ".join(t.isoformat(timespec="seconds") for t in plan.wake_at)
            )
        )
    return parts

"""The plan while it is being made: decisions, intents and wake-up times, with their bookings.

Rules call :meth:`Draft.hold` or :meth:`Draft.move`; a move books the target's GPUs and one move
under the policy at once, so a later rule sees what an earlier one took.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from orchestrator.api.migration import Trigger
from orchestrator.planner.model import (
    Action,
    Candidate,
    Decision,
    Intent,
    Policy,
    Workload,
)
from orchestrator.planner.scoring import PEAKING_LEVEL, Profile, Scorer
from orchestrator.planner.view import Booking, View

PREEMPTION_MARGIN_SECONDS = 30.0
"""Added to a workload's learned migration time when the policy sets no lead: a move that
takes its p95 still has half a minute of slack before the window opens."""

MAX_WAKE_AT = 32
"""The plan names at most this many future times to plan again (the earliest)."""


def lead_seconds(workload: Workload, policy: Policy) -> float:
    """How long before a known window a move off the zone starts."""
    if policy.spec.preemption_lead_seconds > 0:
        return float(policy.spec.preemption_lead_seconds)
    return workload.migration_seconds + PREEMPTION_MARGIN_SECONDS


def peak_threshold(policy: Policy | None) -> int:
    """The level from which a zone counts as peaking for this policy's workloads."""
    if policy is None or not policy.spec.triggers.peak_level.enabled:
        return PEAKING_LEVEL
    return min(PEAKING_LEVEL, policy.spec.triggers.peak_level.at_or_above)


def kw(value: float) -> str:
    return f"{value:.1f} kW"


def duration(secs: float) -> str:
    if secs >= 3600:
        return f"{secs / 3600:.1f} h"
    if secs >= 60:
        return f"{secs / 60:.0f} min"
    return f"{secs:.0f} s"


@dataclass
class Draft:
    """Decisions and intents so far, by workload, with the bookings they made."""

    view: View
    booking: Booking
    scorer: Scorer
    decisions: dict[str, Decision] = field(default_factory=dict)
    intents: list[Intent] = field(default_factory=list)
    wake: set[datetime] = field(default_factory=set)

    @classmethod
    def start(cls, view: View) -> Draft:
        booking = Booking(view)
        return cls(view=view, booking=booking, scorer=Scorer(view, booking))

    def profile(self, workload: Workload, policy: Policy | None) -> Profile:
        return Profile(
            current=workload.current_cluster,
            gpus=workload.gpus,
            threshold=peak_threshold(policy),
            allowed=workload.allowed_zones,
            client_zone=workload.client_zone,
            slo_ms=workload.latency_slo_ms,
            lead_seconds=0.0 if policy is None else lead_seconds(workload, policy),
        )

    def wake_at(self, at: datetime) -> None:
        if at > self.view.now:
            self.wake.add(at)

    def hold(
        self,
        workload: Workload,
        reason: str,
        *,
        candidates: tuple[Candidate, ...],
        zone: str | None = None,
        trigger: Trigger | None = None,
    ) -> None:
        self.decisions[workload.key] = Decision(
            namespace=workload.namespace,
            workload=workload.name,
            zone=zone,
            action="hold",
            reason=f"held: {reason}",
            chosen_cluster=None,
            candidates=candidates,
            trigger=trigger,
        )

    def move(
        self,
        workload: Workload,
        policy: Policy,
        *,
        source: str,
        to: str,
        trigger: Trigger,
        reason: str,
        candidates: tuple[Candidate, ...],
        zone: str | None,
        event: str | None = None,
        signal_id: str | None = None,
        book: bool = True,
    ) -> None:
        """Decide a move, book its GPUs and its place under the policy, add the intent.

        ``book=False`` when the caller has booked already (a demand response books its whole
        assignment first, then records each move against everyone else's bookings).
        """
        action: Action = "return_home" if trigger == "ReturnHome" else "move"
        self.decisions[workload.key] = Decision(
            namespace=workload.namespace,
            workload=workload.name,
            zone=zone,
            action=action,
            reason=reason,
            chosen_cluster=to,
            candidates=candidates,
            trigger=trigger,
        )
        if book:
            self.booking.take(cluster=to, gpus=workload.gpus, policy=policy.name)
        self.intents.append(
            Intent(
                namespace=workload.namespace,
                workload=workload.name,
                from_cluster=source,
                to_cluster=to,
                trigger=trigger,
                message=reason,
                kw=workload.kw,
                gpus=workload.gpus,
                deadline_seconds=workload.deadline_seconds,
                policy=policy.name,
                demand_response_event=event,
                signal_id=signal_id,
                dry_run=policy.spec.dry_run,
            )
        )

    def wake_times(self) -> tuple[datetime, ...]:
        return tuple(sorted(self.wake)[:MAX_WAKE_AT])

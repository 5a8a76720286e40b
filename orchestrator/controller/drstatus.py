"""How a DemandResponseEvent is going: kW shed, when the response started, Met or Missed.

:func:`account` is pure: from the event, the workloads and the Migrations made for it to the
status the event should show. The shed counts workloads at home in the event's zone that run
outside it now, moves finished (a move in flight has not shed anything yet). An import cap is
met when the load still in the zone is at or under the cap.

The outcome is sticky: Met once the target is reached by the response deadline, Missed once the
deadline passes without it (the message then says when the target was reached late, if it was).
Once the window has closed the status is final: workloads going home afterwards do not change
what the event achieved.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from orchestrator.api import conditions as cond
from orchestrator.api.common import Condition
from orchestrator.api.conditions import ConditionStatus, set_condition
from orchestrator.api.drevent import DemandResponseEventSpec, DemandResponseEventStatus
from orchestrator.planner.model import Workload

MAX_MIGRATIONS_LISTED = 256


@dataclass(frozen=True)
class MoveForEvent:
    """A Migration made for the event: its ``namespace/name`` and when it started."""

    name: str
    started_at: datetime


def _kw(value: float) -> float:
    return round(max(0.0, value), 3)


def zone_load_kw(
    workloads: Sequence[Workload], cluster_zones: Mapping[str, str], zone: str
) -> float:
    """kW drawn by the workloads running in ``zone`` now."""
    return _kw(
        sum(
            w.kw for w in workloads
            if w.current_cluster is not None and cluster_zones.get(w.current_cluster) == zone
        )
    )  # fmt: skip


def account(
    *,
    spec: DemandResponseEventSpec,
    status: DemandResponseEventStatus,
    workloads: Sequence[Workload],
    cluster_zones: Mapping[str, str],
    moves: Sequence[MoveForEvent],
    in_flight_kw: float,
    now: datetime,
) -> DemandResponseEventStatus:
    """The status the event should have now (``status`` is what it has)."""
    if status.state == "Cancelled":
        return status
    if spec.window.end is not None and now >= spec.window.end and status.state in ("Met", "Missed"):
        return status  # the record of the event as it closed; later moves are not its doing
    zone = spec.zone
    home_here = [w for w in workloads if cluster_zones.get(w.home_cluster) == zone]
    away = [
        w for w in home_here
        if w.current_cluster is not None and cluster_zones.get(w.current_cluster) != zone
    ]  # fmt: skip
    achieved = _kw(sum(w.kw for w in away))
    load = zone_load_kw(workloads, cluster_zones, zone)
    if spec.shed_kw is not None:
        target_text = f"shed {spec.shed_kw:g} kW"
        missing = _kw(spec.shed_kw - achieved)
    else:
        cap = spec.import_cap_kw or 0.0
        target_text = f"stay at or under {cap:g} kW"
        missing = _kw(load - cap)
    reached = missing <= 0.0

    start, end = spec.window.start, spec.window.end
    deadline = start + timedelta(seconds=spec.response_deadline_seconds)
    ordered = sorted(moves, key=lambda m: (m.started_at, m.name))
    responded = status.responded_at or (ordered[0].started_at if ordered else None)
    met_at = status.met_at
    if reached and met_at is None and now >= start:
        met_at = now

    state = status.state
    if state not in ("Met", "Missed"):
        if now < start:
            state = "Scheduled"
        elif met_at is not None and met_at <= deadline:
            state = "Met"
        elif now > deadline:
            state = "Missed"
        else:
            state = "Active"

    progress = (
        f"{achieved:g} kW shed, zone load {load:g} kW"
        + (f", {in_flight_kw:g} kW in flight" if in_flight_kw > 0 else "")
        + (f", {missing:g} kW still missing" if missing > 0 else "")
    )
    ended = end is not None and now >= end
    condition: tuple[ConditionStatus, str]
    if state == "Scheduled":
        message = f"Order to {target_text} in {zone} from {start.isoformat()}; not in force yet."
        condition = ("False", cond.NOT_IN_FORCE)
    elif state == "Active":
        message = (
            f"Responding to the order to {target_text} in {zone} by "
            f"{deadline.isoformat()}: {progress}."
        )
        condition = ("False", cond.RESPONDING)
    elif state == "Met":
        message = (
            f"Target met at {met_at.isoformat() if met_at else '?'} (deadline "
            f"{deadline.isoformat()}): {progress}."
        )
        condition = ("True", cond.MET)
    else:
        late = (
            f" The target was reached late, at {met_at.isoformat()}."
            if met_at is not None and met_at > deadline
            else " Add capacity in zones that are not peaking, or allow more zones."
        )
        message = f"Target missed: by {deadline.isoformat()} {progress}.{late}"
        condition = ("False", cond.MISSED)
    if ended:
        message += f" The window ended at {end.isoformat() if end else '?'}."

    conditions = set_condition(
        [Condition.model_validate(c.model_dump(by_alias=True)) for c in status.conditions],
        kind=cond.TARGET_MET,
        status=condition[0],
        reason=condition[1],
        message=message,
        now=now,
    )
    return status.model_copy(
        update={
            "state": state,
            "achieved_kw": achieved,
            "missing_kw": missing if state != "Scheduled" else 0.0,
            "responded_at": responded,
            "met_at": met_at,
            "migrations": [m.name for m in ordered][:MAX_MIGRATIONS_LISTED],
            "message": message[:4096],
            "conditions": conditions,
        }
    )


def changed(old: DemandResponseEventStatus, new: DemandResponseEventStatus) -> bool:
    """Whether the status is worth writing (anything but the message's wording of time)."""
    keys = ("state", "achieved_kw", "missing_kw", "responded_at", "met_at", "migrations")
    return any(getattr(old, k) != getattr(new, k) for k in keys) or [
        (c.type, c.status, c.reason) for c in old.conditions
    ] != [(c.type, c.status, c.reason) for c in new.conditions]

"""Pure updates of a Migration's status: entering a phase, conditions, the ledger snapshot.

The one place a Migration's phase, timestamps and conditions change together: the phase is
derived from the step entered, the conditions (:mod:`orchestrator.api.conditions`) follow it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from orchestrator.api import conditions as cond
from orchestrator.api.conditions import set_condition
from orchestrator.api.migration import (
    PHASES,
    TERMINAL_PHASES,
    MigrationSpec,
    MigrationStatus,
    Phase,
    PhaseTimes,
)
from orchestrator.ledger.records import MigrationSnapshot, PhaseSpan

PHASE_FIELD: dict[Phase, str] = {
    "Pending": "pending",
    "Preflight": "preflight",
    "Provisioning": "provisioning",
    "WarmingUp": "warming_up",
    "ShiftingTraffic": "shifting_traffic",
    "Draining": "draining",
    "Releasing": "releasing",
    "Completed": "completed",
    "RollingBack": "rolling_back",
    "RolledBack": "rolled_back",
    "Failed": "failed",
}


def phase_time(times: PhaseTimes, phase: Phase) -> datetime | None:
    value: datetime | None = getattr(times, PHASE_FIELD[phase])
    return value


def enter(
    status: MigrationStatus, phase: Phase, now: datetime, *, reason: str, message: str = ""
) -> MigrationStatus:
    """The status after entering ``phase`` at ``now`` (a repeat keeps the first time)."""
    times = status.phase_times
    if phase_time(times, phase) is None:
        times = times.model_copy(update={PHASE_FIELD[phase]: now})
    update: dict[str, object] = {"phase": phase, "phase_times": times}
    if message or phase in TERMINAL_PHASES:
        update["message"] = message
    conditions = list(status.conditions)
    if phase in TERMINAL_PHASES:
        end = phase_time(times, phase) or now
        update["completion_time"] = end
        if status.start_time is not None:
            update["duration_seconds"] = round((end - status.start_time).total_seconds(), 3)
        met = phase == "Completed" and status.deadline is not None and end <= status.deadline
        update["deadline_met"] = met
        conditions = set_condition(
            conditions, kind=cond.PROGRESSING, status="False", reason=reason,
            message=message, now=now,
        )  # fmt: skip
        conditions = set_condition(
            conditions,
            kind=cond.SUCCEEDED,
            status="True" if phase == "Completed" else "False",
            reason=reason,
            message=message or f"the move ended {phase}",
            now=now,
        )
    else:
        conditions = set_condition(
            conditions, kind=cond.PROGRESSING, status="True", reason=reason,
            message=message or f"phase {phase}", now=now,
        )  # fmt: skip
    update["conditions"] = conditions
    return status.model_copy(update=update)


def recorded(status: MigrationStatus, now: datetime) -> MigrationStatus:
    """The status once the ledger holds the move's final row."""
    conditions = set_condition(
        status.conditions,
        kind=cond.LEDGER_RECORDED,
        status="True",
        reason=cond.RECORDED,
        message="the ledger holds this move",
        now=now,
    )
    return status.model_copy(update={"ledger_recorded": True, "conditions": conditions})


def ended_reason(status: MigrationStatus) -> str:
    """Why the move is ending: the reason of its Progressing condition (RolledBack if none)."""
    for condition in status.conditions:
        if condition.type == cond.PROGRESSING:
            return condition.reason
    return cond.ROLLED_BACK


def start(
    status: MigrationStatus, spec: MigrationSpec, now: datetime, *, replicas: int, kw: float
) -> MigrationStatus:
    """Fix the start time, deadline, replicas and power of the move (once)."""
    started = status.start_time or now
    return status.model_copy(
        update={
            "start_time": started,
            "deadline": status.deadline or started + timedelta(seconds=spec.deadline_seconds),
            "replicas": replicas,
            "kw_moved": round(kw, 3),
        }
    )


def spans(status: MigrationStatus) -> tuple[PhaseSpan, ...]:
    """Each phase the move went through, with the start of the next one as its end."""
    entered = sorted(
        ((t, p) for p in PHASES if (t := phase_time(status.phase_times, p)) is not None),
        key=lambda pair: (pair[0], PHASES.index(pair[1])),
    )
    result = []
    for index, (began, phase) in enumerate(entered):
        ended = entered[index + 1][0] if index + 1 < len(entered) else None
        if phase in TERMINAL_PHASES:
            ended = began
        result.append(PhaseSpan(phase, began, ended))
    return tuple(result)


def snapshot(
    *, uid: str, namespace: str, name: str, spec: MigrationSpec, status: MigrationStatus,
    now: datetime,
) -> MigrationSnapshot:  # fmt: skip
    """The ledger's view of the move."""
    terminal = status.phase in TERMINAL_PHASES
    return MigrationSnapshot(
        uid=uid,
        namespace=namespace,
        name=name,
        workload=spec.workload,
        from_cluster=spec.from_cluster,
        to_cluster=spec.to_cluster,
        reason=spec.reason.message,
        trigger=spec.reason.trigger,
        deadline_seconds=spec.deadline_seconds,
        started_at=status.start_time or status.phase_times.pending or now,
        replicas=status.replicas,
        kw_moved=status.kw_moved if status.phase == "Completed" else 0.0,
        phases=spans(status),
        outcome=status.phase if terminal else None,
        finished_at=status.completion_time if terminal else None,
        deadline_met=status.deadline_met if terminal else None,
        message=status.message or None,
        decision_id=spec.reason.decision_id,
        signal_id=spec.reason.signal_id,
        demand_response_event=spec.reason.demand_response_event,
    )

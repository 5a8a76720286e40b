"""The migration state machine, as a pure function.

``decide(spec, status, observed, now)`` looks at a Migration (spec and status), at what the
engine observed of the clusters, and at the time, and says what to do next. It never sleeps,
never reads the clock, never calls an API: the engine gathers the observations, applies the
step, and writes the new status. Every step can be applied twice (the engine may be killed
between applying and recording), so steps name a target state, not a delta.

The make-before-break invariants live here: the source is touched only in ``Releasing``, which
comes after the target was observed ready and all traffic was shifted; a passing deadline, an
unreachable target or a cancelled move roll back instead (traffic back to the source, target
removed, source untouched). Once all traffic is on the target (Draining, Releasing), the move
completes even if late, with ``deadlineMet: false``: going back then would be a second move.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from orchestrator.api import conditions as cond
from orchestrator.api.migration import TERMINAL_PHASES, MigrationSpec, MigrationStatus, Phase

PROBE_INTERVAL = timedelta(seconds=1)
"""How often a move looks again at what it waits for without a watch: a target's answer to a
request, the source's requests in flight."""
UNREACHABLE_GRACE = timedelta(seconds=30)
"""How long the target may be unreachable before the move rolls back without the deadline."""

ROLLBACK_PHASES: frozenset[Phase] = frozenset(
    {"Preflight", "Provisioning", "WarmingUp", "ShiftingTraffic"}
)


def rollback_reserve(deadline_seconds: int) -> timedelta:
    """Time kept before the deadline to roll back in: 10 %, between 5 and 20 s."""
    return timedelta(seconds=min(20.0, max(5.0, deadline_seconds * 0.1)))


class Action(enum.Enum):
    """What the engine should do next."""

    START = "Start"  # claim the workload, fix start time and deadline -> Preflight
    PREFLIGHT = "Preflight"  # dry-run in the target -> Provisioning, or Fail
    PROVISION = "Provision"  # apply Deployment + Service in the target -> WarmingUp
    BEGIN_SHIFT = "BeginShift"  # target ready -> ShiftingTraffic
    SHIFT = "Shift"  # move traffic to ``percent`` on the target
    BEGIN_DRAIN = "BeginDrain"  # all traffic on the target -> Draining
    BEGIN_RELEASE = "BeginRelease"  # drain time over -> Releasing
    RELEASE = "Release"  # scale the source to zero (or delete it) -> Completed
    BEGIN_ROLLBACK = "BeginRollback"  # -> RollingBack
    ROLL_BACK = "RollBack"  # traffic to the source, target removed -> RolledBack
    CLEAN_UP = "CleanUp"  # a rolled-back target still has objects: remove them
    FAIL = "Fail"  # -> Failed, nothing of the target left behind
    WAIT = "Wait"  # nothing to do until something changes or ``until``
    DONE = "Done"  # terminal and clean


@dataclass(frozen=True)
class Observed:
    """What the engine saw just before deciding."""

    workload_found: bool = True
    workload_cluster: str | None = None
    workload_active_migration: str | None = None
    desired_replicas: int = 1
    drain_seconds: int = 0
    traffic_steps: tuple[int, ...] = (10, 50, 100)
    target_known: bool = True
    target_cordoned: bool = False
    target_peak_level: int = 0
    target_reachable: bool = True
    target_unreachable_since: datetime | None = None
    target_free_gpus: int | None = None
    gpus_needed: int = 0
    target_ready: int = 0
    target_serving: bool = True
    """The target answered the workload's health request through its ingress gateway (True
    where there is no gateway to ask through)."""
    source_in_flight: int | None = None
    """Requests in flight on the source's pods (None: not known)."""
    traffic_failure: str | None = None
    """Why the last weight step failed to reach the edge's data plane (None: it did not fail)."""
    target_objects_left: bool = False
    deleting: bool = False


@dataclass(frozen=True)
class Step:
    """The decision: an action, and why."""

    action: Action
    reason: str = ""
    message: str = ""
    percent: int = 0
    until: datetime | None = None


def _started(status: MigrationStatus) -> datetime | None:
    return status.start_time


def decide(
    spec: MigrationSpec, status: MigrationStatus, observed: Observed, now: datetime, *, name: str
) -> Step:
    """The next step of the move ``name`` (its ``namespace/name``, used to recognise itself)."""
    phase = status.phase
    if phase in TERMINAL_PHASES:
        if phase == "RolledBack" and observed.target_objects_left:
            return Step(
                Action.CLEAN_UP, cond.TARGET_CLEANUP, "removing what the move left in the target"
            )
        return Step(Action.DONE)
    if phase == "Pending":
        return _pending(spec, observed, name=name)
    if phase == "RollingBack":
        return Step(Action.ROLL_BACK, cond.ROLLING_BACK, status.message)
    if phase in ROLLBACK_PHASES:
        abort = _abort(spec, status, observed, now)
        if abort is not None:
            return abort
    if phase == "Preflight":
        return _preflight(spec, observed)
    if phase == "Provisioning":
        return Step(Action.PROVISION)
    if phase == "WarmingUp":
        if observed.target_ready >= observed.desired_replicas:
            if observed.target_serving:
                return Step(Action.BEGIN_SHIFT, cond.TARGET_READY)
            # Ready is not enough: no traffic moves before the target answers a request
            return Step(Action.WAIT, cond.TARGET_NOT_ANSWERING, until=now + PROBE_INTERVAL)
        return Step(Action.WAIT, until=_rollback_at(spec, status))
    if phase == "ShiftingTraffic":
        if observed.traffic_failure is not None:
            return Step(
                Action.BEGIN_ROLLBACK,
                cond.TRAFFIC_NOT_PROGRAMMED,
                f"{observed.traffic_failure}; rolled back to the source",
            )
        return _shifting(spec, status, observed)
    if phase in ("Draining", "Releasing") and observed.target_ready < observed.desired_replicas:
        # never release the source into a target that lost replicas: hold until it recovers
        return Step(Action.WAIT, cond.TARGET_NOT_READY, until=now + PROBE_INTERVAL)
    if phase == "Draining":
        began = status.phase_times.draining or now
        done_at = began + timedelta(seconds=observed.drain_seconds)
        if now >= done_at:
            return Step(Action.BEGIN_RELEASE, cond.DRAINED)
        if observed.source_in_flight == 0:
            return Step(Action.BEGIN_RELEASE, cond.NO_REQUESTS_IN_FLIGHT)
        return Step(Action.WAIT, until=min(done_at, now + PROBE_INTERVAL))
    if phase == "Releasing":
        return Step(Action.RELEASE)
    return Step(Action.FAIL, cond.UNKNOWN_PHASE, f"phase {phase!r} is not part of the protocol")


def _rollback_at(spec: MigrationSpec, status: MigrationStatus) -> datetime | None:
    if status.deadline is None:
        return None
    return status.deadline - rollback_reserve(spec.deadline_seconds)


def _pending(spec: MigrationSpec, observed: Observed, *, name: str) -> Step:
    if not observed.workload_found:
        return Step(
            Action.FAIL,
            cond.WORKLOAD_NOT_FOUND,
            f"InferenceWorkload {spec.workload!r} does not exist in this namespace; "
            "create it first, then create the Migration again",
        )
    active = observed.workload_active_migration
    if active and active != name:
        return Step(
            Action.FAIL,
            cond.ANOTHER_MIGRATION_ACTIVE,
            f"{spec.workload!r} is already moving with Migration {active!r}; at most one move "
            "per workload runs at a time: wait for it to finish, then try again",
        )
    if observed.workload_cluster != spec.from_cluster:
        where = observed.workload_cluster or "no cluster yet"
        return Step(
            Action.FAIL,
            cond.NOT_IN_SOURCE_CLUSTER,
            f"{spec.workload!r} runs in {where}, not in fromCluster {spec.from_cluster!r}; "
            "create a Migration from where it runs",
        )
    return Step(Action.START, cond.ACCEPTED)


def _abort(
    spec: MigrationSpec, status: MigrationStatus, observed: Observed, now: datetime
) -> Step | None:
    if observed.deleting:
        return Step(
            Action.BEGIN_ROLLBACK, cond.CANCELLED, "the Migration was deleted; rolling back"
        )
    rollback_at = _rollback_at(spec, status)
    if rollback_at is not None and now >= rollback_at:
        return Step(
            Action.BEGIN_ROLLBACK,
            cond.DEADLINE_EXCEEDED,
            f"the target was not serving {spec.deadline_seconds} s after the start; rolled back "
            "to the source. Check the target's pods (image, GPUs, readiness) before retrying",
        )
    since = observed.target_unreachable_since
    if not observed.target_reachable and since is not None and now - since >= UNREACHABLE_GRACE:
        return Step(
            Action.BEGIN_ROLLBACK,
            cond.TARGET_UNREACHABLE,
            f"cluster {spec.to_cluster!r} has not answered for "
            f"{UNREACHABLE_GRACE.total_seconds():.0f} s; rolled back to the source",
        )
    return None


def _preflight(spec: MigrationSpec, observed: Observed) -> Step:
    target = spec.to_cluster
    if not observed.target_known:
        return Step(
            Action.FAIL,
            cond.TARGET_UNKNOWN,
            f"no MemberCluster named {target!r}; create it or choose another toCluster",
        )
    if observed.target_cordoned:
        return Step(Action.FAIL, cond.TARGET_CORDONED, f"{target!r} is cordoned; uncordon it first")
    if observed.target_peak_level >= 2:
        return Step(
            Action.FAIL,
            cond.TARGET_AT_PEAK,
            f"{target!r} is in a zone at peak level {observed.target_peak_level}; moving load "
            "there would add to its peak: choose a calmer zone",
        )
    if not observed.target_reachable:
        return Step(Action.WAIT, cond.TARGET_UNREACHABLE, f"waiting for {target!r} to answer")
    free = observed.target_free_gpus
    if free is not None and free < observed.gpus_needed:
        return Step(
            Action.FAIL,
            cond.INSUFFICIENT_GPUS,
            f"{target!r} has {free} GPUs free, the workload needs {observed.gpus_needed}; "
            "free capacity there or choose another cluster",
        )
    return Step(Action.PREFLIGHT)


def _shifting(spec: MigrationSpec, status: MigrationStatus, observed: Observed) -> Step:
    if not observed.target_serving:
        # every moment with weight on a target that does not answer costs users requests
        return Step(
            Action.BEGIN_ROLLBACK,
            cond.TARGET_NOT_ANSWERING,
            f"{spec.to_cluster!r} stopped answering while traffic moved to it; rolled back to "
            "the source. Check the target's ingress gateway and network",
        )
    if observed.target_ready < observed.desired_replicas:
        # never send more traffic to a target that lost replicas; the deadline still runs
        return Step(Action.WAIT, cond.TARGET_NOT_READY, until=_rollback_at(spec, status))
    current = status.traffic_percent
    following = [p for p in observed.traffic_steps if p > current]
    if not following:
        return Step(Action.BEGIN_DRAIN, cond.TRAFFIC_SHIFTED)
    return Step(Action.SHIFT, cond.TRAFFIC_SHIFTING, percent=following[0])

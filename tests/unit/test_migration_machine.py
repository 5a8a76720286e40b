"""The migration state machine decides from (spec, status, observations, now) alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.api.migration import PHASES, MigrationSpec, MigrationStatus, PhaseTimes
from orchestrator.migration import status as status_ops
from orchestrator.migration.machine import (
    UNREACHABLE_GRACE,
    Action,
    Observed,
    decide,
    rollback_reserve,
)

T0 = datetime(2026, 7, 4, 6, 14, tzinfo=UTC)
SPEC = MigrationSpec.model_validate(
    {"workload": "chat", "fromCluster": "shanghai", "toCluster": "hubei", "deadlineSeconds": 180}
)
READY = Observed(workload_cluster="shanghai", desired_replicas=2, target_ready=2)


def _status(phase: str, **extra: object) -> MigrationStatus:
    return MigrationStatus.model_validate(
        {"phase": phase, "startTime": T0, "deadline": T0 + timedelta(seconds=180), **extra}
    )


def test_pending_move_of_a_workload_where_it_runs_is_accepted() -> None:
    step = decide(SPEC, MigrationStatus(), READY, T0, name="m1")
    assert step.action is Action.START


@pytest.mark.parametrize(
    ("observed", "reason"),
    [
        (Observed(workload_found=False), "WorkloadNotFound"),
        (Observed(workload_cluster="ningxia"), "NotInSourceCluster"),
        (Observed(workload_cluster="shanghai", workload_active_migration="m0"),
         "AnotherMigrationActive"),
    ],
)  # fmt: skip
def test_pending_move_that_cannot_start_fails_saying_why(observed: Observed, reason: str) -> None:
    step = decide(SPEC, MigrationStatus(), observed, T0, name="m1")
    assert step.action is Action.FAIL
    assert step.reason == reason
    assert step.message


def test_a_move_that_already_owns_its_workload_starts() -> None:
    observed = Observed(workload_cluster="shanghai", workload_active_migration="m1")
    assert decide(SPEC, MigrationStatus(), observed, T0, name="m1").action is Action.START


@pytest.mark.parametrize(
    ("observed", "reason"),
    [
        (Observed(target_known=False), "TargetUnknown"),
        (Observed(target_cordoned=True), "TargetCordoned"),
        (Observed(target_peak_level=2), "TargetAtPeak"),
        (Observed(target_free_gpus=1, gpus_needed=2), "InsufficientGPUs"),
    ],
)
def test_preflight_refuses_a_bad_target_at_no_cost(observed: Observed, reason: str) -> None:
    step = decide(SPEC, _status("Preflight"), observed, T0, name="m1")
    assert step.action is Action.FAIL
    assert step.reason == reason


def test_preflight_waits_for_an_unreachable_target() -> None:
    step = decide(SPEC, _status("Preflight"), Observed(target_reachable=False), T0, name="m1")
    assert step.action is Action.WAIT


def test_warming_up_waits_until_the_target_is_ready_then_shifts() -> None:
    waiting = Observed(desired_replicas=2, target_ready=1)
    step = decide(SPEC, _status("WarmingUp"), waiting, T0 + timedelta(seconds=10), name="m1")
    assert step.action is Action.WAIT
    assert step.until == T0 + timedelta(seconds=180) - rollback_reserve(180)
    ready = decide(SPEC, _status("WarmingUp"), READY, T0 + timedelta(seconds=10), name="m1")
    assert ready.action is Action.BEGIN_SHIFT


def test_traffic_moves_in_the_configured_steps_then_drains() -> None:
    seen = []
    status = _status("ShiftingTraffic")
    observed = Observed(desired_replicas=2, target_ready=2, traffic_steps=(10, 50, 100))
    while (step := decide(SPEC, status, observed, T0, name="m1")).action is Action.SHIFT:
        seen.append(step.percent)
        status = status.model_copy(update={"traffic_percent": step.percent})
    assert seen == [10, 50, 100]
    assert step.action is Action.BEGIN_DRAIN


def test_no_more_traffic_goes_to_a_target_that_lost_replicas() -> None:
    observed = Observed(desired_replicas=2, target_ready=1)
    step = decide(SPEC, _status("ShiftingTraffic", trafficPercent=10), observed, T0, name="m1")
    assert step.action is Action.WAIT


def test_draining_lasts_drain_seconds_then_releases() -> None:
    status = _status("Draining", phaseTimes={"draining": T0})
    observed = Observed(drain_seconds=30, target_ready=1)
    early = decide(SPEC, status, observed, T0 + timedelta(seconds=29), name="m1")
    assert early.action is Action.WAIT
    assert early.until == T0 + timedelta(seconds=30)
    assert decide(SPEC, status, observed, T0 + timedelta(seconds=30), name="m1").action is (
        Action.BEGIN_RELEASE
    )


@pytest.mark.parametrize("phase", ["Preflight", "Provisioning", "WarmingUp", "ShiftingTraffic"])
def test_the_deadline_rolls_back_any_phase_before_all_traffic_moved(phase: str) -> None:
    late = T0 + timedelta(seconds=180) - rollback_reserve(180)
    step = decide(SPEC, _status(phase), Observed(target_ready=0), late, name="m1")
    assert step.action is Action.BEGIN_ROLLBACK
    assert step.reason == "DeadlineExceeded"


@pytest.mark.parametrize("phase", ["Draining", "Releasing"])
def test_once_all_traffic_moved_a_late_move_still_completes(phase: str) -> None:
    status = _status(phase, phaseTimes={"draining": T0})
    step = decide(SPEC, status, Observed(target_ready=1), T0 + timedelta(seconds=999), name="m1")
    assert step.action in (Action.BEGIN_RELEASE, Action.RELEASE)


def test_a_ready_target_that_does_not_answer_gets_no_traffic() -> None:
    """Ready replicas are not enough: until the target answers its health request through its
    ingress, the move waits (and looks again within a second)."""
    status = _status("WarmingUp")
    silent = Observed(desired_replicas=2, target_ready=2, target_serving=False)
    step = decide(SPEC, status, silent, T0 + timedelta(seconds=20), name="m1")
    assert (step.action, step.reason) == (Action.WAIT, "TargetNotAnswering")
    assert step.until == T0 + timedelta(seconds=21)
    answering = Observed(desired_replicas=2, target_ready=2, target_serving=True)
    step = decide(SPEC, status, answering, T0 + timedelta(seconds=20), name="m1")
    assert (step.action, step.reason) == (Action.BEGIN_SHIFT, "TargetReady")


def test_a_weight_step_the_data_plane_did_not_take_rolls_back() -> None:
    """A traffic step that did not reach the edge's data plane rolls the move back, saying why."""
    status = _status("ShiftingTraffic", trafficPercent=10)
    observed = Observed(desired_replicas=2, target_ready=2, traffic_failure="the edge lagged")
    step = decide(SPEC, status, observed, T0 + timedelta(seconds=40), name="m1")
    assert (step.action, step.reason) == (Action.BEGIN_ROLLBACK, "TrafficNotProgrammed")
    assert step.message.startswith("the edge lagged")


@pytest.mark.parametrize(
    ("in_flight", "action", "reason"),
    [
        (0, Action.BEGIN_RELEASE, "NoRequestsInFlight"),
        (3, Action.WAIT, ""),
        (None, Action.WAIT, ""),
    ],
)
def test_draining_ends_when_no_request_is_in_flight_or_the_drain_time_passed(
    in_flight: int | None, action: Action, reason: str
) -> None:
    """Draining releases at once when the source has nothing in flight; with requests in flight
    (or not knowing) it waits, looking again within a second, at most drainSeconds."""
    status = _status("Draining", phaseTimes={"draining": T0})
    observed = Observed(drain_seconds=30, target_ready=1, source_in_flight=in_flight)
    step = decide(SPEC, status, observed, T0 + timedelta(seconds=5), name="m1")
    assert (step.action, step.reason) == (action, reason)
    if action is Action.WAIT:
        assert step.until == T0 + timedelta(seconds=6)
    late = decide(SPEC, status, observed, T0 + timedelta(seconds=30), name="m1")
    assert late.action is Action.BEGIN_RELEASE


@pytest.mark.parametrize("phase", ["Draining", "Releasing"])
def test_the_source_is_never_released_into_a_target_that_lost_replicas(phase: str) -> None:
    """With all traffic on a target that is no longer fully ready, the source is kept: the move
    holds (and looks again) rather than release into nothing."""
    status = _status(phase, phaseTimes={"draining": T0})
    observed = Observed(desired_replicas=2, target_ready=1, source_in_flight=0)
    step = decide(SPEC, status, observed, T0 + timedelta(seconds=999), name="m1")
    assert (step.action, step.reason) == (Action.WAIT, "TargetNotReady")


def test_a_target_unreachable_past_the_grace_rolls_back_before_the_deadline() -> None:
    since = T0 + timedelta(seconds=5)
    observed = Observed(target_reachable=False, target_unreachable_since=since)
    brief = decide(SPEC, _status("WarmingUp"), observed, since + timedelta(seconds=5), name="m1")
    assert brief.action is Action.WAIT
    step = decide(SPEC, _status("WarmingUp"), observed, since + UNREACHABLE_GRACE, name="m1")
    assert step.action is Action.BEGIN_ROLLBACK
    assert step.reason == "TargetUnreachable"


def test_deleting_a_move_in_flight_rolls_it_back() -> None:
    step = decide(SPEC, _status("WarmingUp"), Observed(deleting=True), T0, name="m1")
    assert step.action is Action.BEGIN_ROLLBACK
    assert step.reason == "Cancelled"


def test_a_rolled_back_move_cleans_up_what_it_left_then_is_done() -> None:
    status = _status("RolledBack")
    left = decide(SPEC, status, Observed(target_objects_left=True), T0, name="m1")
    assert left.action is Action.CLEAN_UP
    assert decide(SPEC, status, Observed(), T0, name="m1").action is Action.DONE


@given(
    phase=st.sampled_from(PHASES),
    offset=st.integers(min_value=0, max_value=4000),
    ready=st.integers(min_value=0, max_value=4),
    reachable=st.booleans(),
    deleting=st.booleans(),
)
def test_the_source_is_only_released_after_all_traffic_moved(
    phase: str, offset: int, ready: int, reachable: bool, deleting: bool
) -> None:
    """Whatever is observed, RELEASE (the only step touching the source) comes from Releasing."""
    observed = Observed(
        desired_replicas=2, target_ready=ready, target_reachable=reachable, deleting=deleting,
        target_unreachable_since=None if reachable else T0,
    )  # fmt: skip
    status = _status(phase, phaseTimes={"draining": T0})
    step = decide(SPEC, status, observed, T0 + timedelta(seconds=offset), name="m1")
    if step.action is Action.RELEASE:
        assert phase == "Releasing"
    if step.action is Action.BEGIN_SHIFT:
        assert ready >= 2


def test_entering_phases_keeps_first_times_and_ends_with_duration_and_deadline() -> None:
    status = status_ops.start(MigrationStatus(), SPEC, T0, replicas=2, kw=5.6)
    status = status_ops.enter(status, "Preflight", T0, reason="Accepted")
    again = status_ops.enter(status, "Preflight", T0 + timedelta(seconds=5), reason="Accepted")
    assert again.phase_times.preflight == T0
    done = status_ops.enter(again, "Completed", T0 + timedelta(seconds=42), reason="Completed")
    assert done.duration_seconds == 42
    assert done.deadline_met is True
    assert [c.type for c in done.conditions] == ["Progressing", "Succeeded"]
    late = status_ops.enter(again, "Completed", T0 + timedelta(seconds=200), reason="Completed")
    assert late.deadline_met is False


def test_ledger_phases_end_where_the_next_begins() -> None:
    times = PhaseTimes(
        pending=T0, preflight=T0 + timedelta(seconds=1), completed=T0 + timedelta(seconds=9)
    )
    status = MigrationStatus(phase="Completed", phase_times=times, start_time=T0)
    spans = status_ops.spans(status)
    assert [(s.phase, s.finished_at) for s in spans] == [
        ("Pending", T0 + timedelta(seconds=1)),
        ("Preflight", T0 + timedelta(seconds=9)),
        ("Completed", T0 + timedelta(seconds=9)),
    ]


def test_a_target_that_stops_answering_while_traffic_moves_rolls_back_at_once() -> None:
    """In ShiftingTraffic a target that does not answer its health request through its ingress
    is rolled back at once: no more weight goes to it, and what it has goes back."""
    status = _status("ShiftingTraffic", trafficPercent=10)
    observed = Observed(desired_replicas=2, target_ready=2, target_serving=False)
    step = decide(SPEC, status, observed, T0 + timedelta(seconds=40), name="m1")
    assert (step.action, step.reason) == (Action.BEGIN_ROLLBACK, "TargetNotAnswering")

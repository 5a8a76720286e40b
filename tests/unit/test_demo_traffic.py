"""The demo's live requests: counted by who answered, and attributed to the moves in flight."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from orchestrator.devenv.demo_state import MigrationState
from orchestrator.devenv.demo_traffic import LiveTraffic, live_plan, move_windows
from orchestrator.devenv.demo_view import traffic_text
from orchestrator.devenv.loadgen import Result

T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def _traffic() -> LiveTraffic:
    traffic = LiveTraffic("inference/chat-live", live_plan("http://127.0.0.1:1", "h", 10))
    traffic._wall0, traffic._mono0 = T0, 1000.0  # the monotonic clock's 1000 s is T0
    return traffic


def _result(start: float, end: float, outcome: str = "ok", cluster: str | None = "x") -> Result:
    return Result(1000.0 + start, 1000.0 + end, False, outcome, cluster, None, outcome)


def test_answers_are_counted_by_cluster_and_failures_apart() -> None:
    traffic = _traffic()
    for result in (
        _result(0, 1, cluster="shanghai"),
        _result(1, 2, cluster="shanghai"),
        _result(2, 3, cluster="hubei"),
        _result(3, 4, "failed", None),
        _result(4, 9, "truncated", "hubei"),
    ):
        traffic._add(result)
    counts = traffic.counts()
    assert dict(counts.answered) == {"shanghai": 2, "hubei": 1}
    assert (counts.total_answered, counts.failed, counts.cut) == (3, 1, 1)
    assert traffic_text(counts) == (
        "requests to inference/chat-live through the edge: 3 answered (hubei 1, shanghai 2), "
        "1 failed, 1 streams cut"
    )


def test_only_requests_in_flight_during_a_move_count_as_during_the_moves() -> None:
    traffic = _traffic()
    traffic._add(_result(0, 5))  # before the move
    traffic._add(_result(8, 12))  # overlaps its start
    traffic._add(_result(15, 16, "failed", None))  # inside it
    traffic._add(_result(19, 40))  # a stream that began inside it and outlived it
    traffic._add(_result(30, 31))  # after it
    window = (T0 + timedelta(seconds=10), T0 + timedelta(seconds=20))
    summary = traffic.summary([window])
    assert summary.moves == 1
    assert (summary.answered_during_moves, summary.failed_during_moves) == (2, 1)
    assert summary.failures == ("failed: failed",)
    assert traffic.summary([]).answered_during_moves == 0


def _move(started: datetime | None, duration: float | None) -> MigrationState:
    return MigrationState(
        namespace="inference",
        name="m",
        workload="chat-live",
        source="shanghai",
        target="hubei",
        trigger="DemandResponse",
        phase="Completed" if duration is not None else "ShiftingTraffic",
        created=started,
        started=started,
        duration=duration,
        deadline_seconds=180,
        deadline_met=None,
        kw_moved=5.0,
        dr_event=None,
        recorded=False,
    )


def test_a_move_window_runs_from_its_start_for_its_duration_or_until_now() -> None:
    now = T0 + timedelta(minutes=5)
    windows = move_windows([_move(T0, 30.0), _move(T0, None), _move(None, None)], now)
    assert windows == [(T0, T0 + timedelta(seconds=30)), (T0, now)]

"""What the CLI's views show, from hand-built rows, ledger records and plans."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime, timedelta

from rich.console import Console, RenderableType

from orchestrator.ledger.records import (
    CandidateScore,
    DecisionRecord,
    MigrationRecord,
    PhaseRecord,
)
from orchestrator.planner.model import Candidate, Decision, EventOutlook, Intent, Plan
from orchestrator.views import (
    ClusterRow,
    MoveRow,
    Overview,
    WorkloadRow,
    ZoneRow,
    decisions_view,
    history_table,
    render_move,
    render_overview,
    render_plan,
    seconds,
)

NOW = datetime(2026, 7, 15, 10, 0, tzinfo=UTC)
TERMS = {"energy_cost": -0.25, "peak": 0.5, "green": 0.125, "latency": -1.0, "capacity": 0.0}


def text(*parts: RenderableType) -> str:
    """What a 220-column terminal would show."""
    console = Console(file=io.StringIO(), width=220, record=True, color_system=None)
    for part in parts:
        console.print(part)
    return console.export_text()


def line_with(screen: str, needle: str) -> str:
    """The one line of ``screen`` that contains ``needle``."""
    found = [line for line in screen.splitlines() if needle in line]
    assert len(found) == 1, (needle, screen)
    return found[0]


def cells(screen: str, first: str, *, section: str = "") -> list[str]:
    """The cells of the table row (after ``section``'s title) whose first cell is ``first``."""
    start = screen.index(section) if section else 0
    for line in screen[start:].splitlines():
        parts = [c.strip() for c in line.split("│")[1:-1]]
        if parts and parts[0] == first:
            return parts
    raise AssertionError(f"no row {first!r} in:\n{screen}")


def zone(name: str, **given: object) -> ZoneRow:
    values: dict[str, object] = {
        "price_per_kwh": 1.1637,
        "currency": "CNY",
        "unit": "CNY/kWh",
        "peak_level": 2,
        "tou_period": "Peak",
        "last_signal_time": NOW - timedelta(seconds=12),
        "stale": False,
    }
    values.update(given)
    return ZoneRow(name=name, **values)  # type: ignore[arg-type]


def overview(**given: object) -> Overview:
    values: dict[str, object] = {
        "at": NOW,
        "zones": (
            zone("shanghai", active_events=("dre-sh-0042",), peak_level=3),
            zone(
                "hubei",
                price_per_kwh=0.3191,
                unit=None,
                peak_level=0,
                tou_period="Valley",
                stale=True,
                last_signal_time=NOW - timedelta(minutes=20),
            ),
            zone("ningxia", price_per_kwh=None, last_signal_time=None, stale=True),
        ),
        "clusters": (
            ClusterRow("shanghai", "shanghai", True, 12, 64, False),
            ClusterRow("hubei", "hubei", False, 0, 64, True),
            ClusterRow("ningxia", "ningxia", None, 0, 0, False),
        ),
        "workloads": (WorkloadRow("inference", "chat-72b", "hubei", "shanghai", 1, 2, 5.6, "m-1"),),
        "moves": (),
    }
    values.update(given)
    return Overview(**values)  # type: ignore[arg-type]


def move(**given: object) -> MoveRow:
    values: dict[str, object] = {
        "namespace": "inference",
        "name": "chat-to-hubei",
        "workload": "chat-72b",
        "from_cluster": "shanghai",
        "to_cluster": "hubei",
        "phase": "ShiftingTraffic",
        "started_at": NOW - timedelta(seconds=42),
        "deadline_seconds": 180,
        "traffic_percent": 50,
    }
    values.update(given)
    return MoveRow(**values)  # type: ignore[arg-type]


# -- the status screen ---------------------------------------------------------------------------


def test_zones_show_price_with_currency_and_unit_peak_period_and_events() -> None:
    """A zone's row has its price per kWh in its currency, peak level, TOU period, DR events."""
    row = line_with(text(render_overview(overview())), "dre-sh-0042")
    assert "shanghai" in row
    assert "1.1637 CNY/kWh" in row
    assert "3 critical" in row
    assert "Peak" in row
    assert "fresh (12.0 s)" in row


def test_stale_zones_say_stale_with_the_age_or_no_signal() -> None:
    """A zone past its TTL shows Stale and how old its last signal is, or that it has none."""
    screen = text(render_overview(overview()))
    assert "Stale (20 min 0 s)" in line_with(screen, "0.3191 CNY/kWh")
    assert cells(screen, "ningxia", section="Zones")[4] == "Stale (no signal)"
    assert "Stale" not in line_with(screen, "1.1637")


def test_clusters_show_reachability_gpus_and_cordon() -> None:
    """Each member cluster: reachable yes/no/unknown, GPUs free/allocatable, cordoned."""
    screen = text(render_overview(overview()))
    clusters = "Member clusters"
    assert cells(screen, "shanghai", section=clusters) == [
        "shanghai",
        "shanghai",
        "yes",
        "12/64",
        "no",
    ]
    assert cells(screen, "hubei", section=clusters) == ["hubei", "hubei", "no", "0/64", "yes"]
    assert cells(screen, "ningxia", section=clusters)[2:4] == ["unknown", "0/0"]


def test_workloads_show_placement_replicas_power_and_migration() -> None:
    """A workload away from home shows both clusters, ready/desired replicas, kW, migration."""
    row = cells(text(render_overview(overview())), "inference/chat-72b")
    assert row == ["inference/chat-72b", "hubei", "shanghai", "1/2", "5.6", "m-1"]


def test_migrations_in_flight_show_phase_elapsed_against_deadline_and_traffic() -> None:
    """A move in flight: its phase, 42 s of its 180 s deadline, and 50 % traffic on the target."""
    row = line_with(text(render_overview(overview(moves=(move(),)))), "chat-to-hubei")
    assert "ShiftingTraffic" in row
    assert "42.0 s / 180 s" in row
    assert "50 %" in row
    assert "deadline passed" not in row


def test_a_move_past_its_deadline_says_so() -> None:
    """A move running longer than its deadline is marked as past it."""
    late = move(started_at=NOW - timedelta(seconds=200), phase="RollingBack")
    assert "3 min 20 s / 180 s (deadline passed)" in text(render_move(late, NOW))


def test_no_migration_in_flight_is_said_plainly() -> None:
    """With nothing moving, the screen says so instead of an empty table."""
    assert "No migration in flight." in text(render_overview(overview()))


def test_durations_read_like_a_person_would_say_them() -> None:
    """Seconds, minutes, hours and days, never negative."""
    assert [seconds(v) for v in (-3, 4.25, 185, 7260, 3 * 86400 + 3600)] == [
        "0.0 s",
        "4.2 s",
        "3 min 5 s",
        "2 h 1 min",
        "3 d 1 h",
    ]


# -- the ledger ----------------------------------------------------------------------------------


def record(**given: object) -> MigrationRecord:
    start = NOW - timedelta(minutes=10)
    phases = (
        PhaseRecord("Pending", start, start + timedelta(seconds=1), None),
        PhaseRecord("Preflight", start + timedelta(seconds=1), start + timedelta(seconds=3), None),
        PhaseRecord("WarmingUp", start + timedelta(seconds=3), start + timedelta(seconds=48), None),
        PhaseRecord("Completed", start + timedelta(seconds=96), None, None),
    )
    values: dict[str, object] = {
        "uid": uuid.uuid4(),
        "namespace": "inference",
        "name": "chat-to-hubei",
        "workload": "chat-72b",
        "from_cluster": "shanghai",
        "to_cluster": "hubei",
        "reason": "",
        "trigger": "DemandResponse",
        "dr_event_id": None,
        "deadline_seconds": 180,
        "started_at": start,
        "finished_at": start + timedelta(seconds=96),
        "phase": "Completed",
        "outcome": "Completed",
        "deadline_met": True,
        "kw_moved": None,
        "replicas": 2,
        "message": None,
        "phases": phases,
    }
    values.update(given)
    return MigrationRecord(**values)  # type: ignore[arg-type]


def test_history_shows_route_trigger_outcome_duration_and_phases() -> None:
    """A completed move: from → to, trigger, outcome, 96 s of 180 s, met, each phase's time."""
    row = line_with(text(history_table([record()], NOW)), "chat-to-hubei")
    for part in ("shanghai → hubei", "DemandResponse", "Completed", "1 min 36 s / 180 s", "yes"):
        assert part in row, part
    assert "Pending 1.0 s · Preflight 2.0 s · WarmingUp 45.0 s" in row


def test_history_shows_a_missed_deadline() -> None:
    """A move that finished after its deadline is flagged MISSED."""
    start = NOW - timedelta(minutes=10)
    late = record(finished_at=start + timedelta(seconds=200), deadline_met=False, name="late-one")
    row = line_with(text(history_table([late], NOW)), "late-one")
    assert "MISSED" in row
    assert "3 min 20 s / 180 s" in row


def test_history_shows_a_move_still_running() -> None:
    """A move without an outcome is in flight; its open phase is running."""
    start = NOW - timedelta(seconds=30)
    running = record(
        name="running-one",
        started_at=start,
        finished_at=None,
        outcome=None,
        deadline_met=None,
        phase="WarmingUp",
        phases=(PhaseRecord("WarmingUp", start, None, None),),
    )
    row = line_with(text(history_table([running], NOW)), "running-one")
    assert "WarmingUp (in flight)" in row
    assert "WarmingUp 30.0 s (running)" in row


def test_decisions_show_action_reason_and_every_term_of_every_candidate() -> None:
    """A decision: time, action → cluster, reason; each candidate's total and five terms."""
    decision = DecisionRecord(
        id=1,
        decided_at=NOW,
        namespace="inference",
        workload="chat-72b",
        zone="shanghai",
        action="move",
        reason="shanghai at critical peak",
        chosen_cluster="hubei",
        candidates=(
            CandidateScore("hubei", 0.875, TERMS),
            CandidateScore("ningxia", 0.5, {**TERMS, "latency": -2.0}),
        ),
        plan_id=None,
        migration_uid=None,
    )
    screen = text(decisions_view([decision]))
    assert "move → hubei  shanghai at critical peak" in screen
    header = line_with(screen, "energy_cost")
    assert header.split() == [
        "candidate",
        "total",
        "energy_cost",
        "peak",
        "green",
        "latency",
        "capacity",
    ]
    assert line_with(screen, "* hubei").split() == [
        "*",
        "hubei",
        "+0.875",
        "-0.250",
        "+0.500",
        "+0.125",
        "-1.000",
        "+0.000",
    ]
    assert "-2.000" in line_with(screen, "ningxia")


def test_no_decision_is_said_plainly() -> None:
    """A workload the planner never decided about says so."""
    assert "No decision recorded." in text(decisions_view([]))


# -- the plan ------------------------------------------------------------------------------------


def test_a_plan_shows_intents_events_and_why_each_candidate_was_or_was_not_chosen() -> None:
    """Intents first, then DR outlook, then per workload its decision and candidates' terms."""
    plan = Plan(
        at=NOW,
        intents=(
            Intent(
                namespace="inference",
                workload="chat-72b",
                from_cluster="shanghai",
                to_cluster="hubei",
                trigger="DemandResponse",
                message="shed 5.6 kW for dre-sh-0042",
                kw=5.6,
                gpus=8,
                deadline_seconds=180,
            ),
        ),
        decisions=(
            Decision(
                namespace="inference",
                workload="chat-72b",
                zone="shanghai",
                action="move",
                reason="dispatch order dre-sh-0042",
                chosen_cluster="hubei",
                candidates=(
                    Candidate("hubei", 0.875, TERMS, eligible=True),
                    Candidate("ningxia", 0.5, TERMS, eligible=False, why_not="zone is Stale"),
                ),
                trigger="DemandResponse",
            ),
            Decision(
                namespace="batch",
                workload="embed",
                zone=None,
                action="hold",
                reason="no trigger",
                chosen_cluster=None,
                candidates=(),
            ),
        ),
        events=(EventOutlook("dre-sh-0042", "shanghai", 10.0, 2.0, 5.6, 2.4),),
    )
    screen = text(*render_plan(plan))
    intent = cells(screen, "inference/chat-72b", section="Intents")
    assert intent == [
        "inference/chat-72b",
        "shanghai → hubei",
        "DemandResponse",
        "5.6",
        "8",
        "180 s",
        "shed 5.6 kW for dre-sh-0042",
    ]
    assert cells(screen, "dre-sh-0042", section="Demand-response") == [
        "dre-sh-0042",
        "shanghai",
        "10.0",
        "2.0",
        "5.6",
        "2.4",
    ]
    assert "move → hubei  [DemandResponse]  dispatch order dre-sh-0042" in screen
    assert line_with(screen, "* hubei").rstrip().endswith("yes")
    assert line_with(screen, "ningxia").rstrip().endswith("no: zone is Stale")
    assert "batch/embed  hold  no trigger" in screen
    assert screen.index("Intents") < screen.index("Demand-response") < screen.index("batch/embed")


def test_an_empty_plan_says_nothing_is_planned() -> None:
    """A plan without intents says no migration is planned."""
    assert "No migration planned." in text(*render_plan(Plan(at=NOW, intents=(), decisions=())))


def test_a_plan_without_explain_shows_only_intents_and_events() -> None:
    """Without explain, decisions and candidate scores are left out."""
    decision = Decision("batch", "embed", None, "hold", "no trigger", None, ())
    screen = text(*render_plan(Plan(at=NOW, intents=(), decisions=(decision,)), explain=False))
    assert "No migration planned." in screen
    assert "batch/embed" not in screen

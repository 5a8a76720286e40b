"""The causal chain in a real PostgreSQL: signal -> DR event -> decision -> migration -> phases,
joined in whatever order the rows arrive, and read back by one question."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from orchestrator.cli import app
from orchestrator.ledger.handle import Ledger
from orchestrator.ledger.records import (
    CandidateScore,
    DecisionInput,
    DrObservation,
    DrOrderInput,
    MigrationSnapshot,
    PhaseSpan,
    SignalInput,
)

T0 = datetime(2026, 7, 15, 6, 0, tzinfo=UTC)
EVENT = "shanghai-dispatch-0042-1a2b3c"
TERMS = {"energy_cost": -0.62, "peak": 0.0, "green": 0.05, "latency": -0.02, "capacity": 0.01}


@pytest.fixture
def door(ledger_door: Ledger, factory: sessionmaker[Session]) -> Ledger:
    """The door on a ledger emptied for this test."""
    return ledger_door


def dispatch(door: Ledger) -> int:
    """A native order to shed 500 kW in Shanghai, recorded as the webhook and processor do."""
    ((signal_id, _),) = door.record_signals(
        [
            SignalInput(
                source="native:sgcc-sh",
                external_id="dispatch-0042",
                zone="shanghai",
                kind="dr_event",
                interval_start=T0,
                interval_end=T0 + timedelta(hours=2),
                value=500.0,
                unit="kW",
                payload={"order": {"eventID": "dispatch-0042"}},
            )
        ]
    )
    event = door.apply_dr_order(
        DrOrderInput(
            source="native:sgcc-sh",
            external_id="shanghai/dispatch-0042",
            zone="shanghai",
            kind="shed",
            target_kw=500.0,
            window_start=T0,
            window_end=T0 + timedelta(hours=2),
            response_deadline_seconds=180,
            k8s_name=EVENT,
            signal_ids=(signal_id,),
        ),
        at=T0,
    )
    assert event is not None
    return signal_id


def decision(workload: str = "chat-72b", *, at: datetime = T0) -> DecisionInput:
    return DecisionInput(
        decided_at=at + timedelta(seconds=5),
        plan_id="plan-20260715T060005-abcd1234",
        namespace="inference",
        workload=workload,
        zone="shanghai",
        action="move",
        reason="shed 500 kW for shanghai-dispatch-0042: largest flexible load first",
        chosen_cluster="ningxia",
        candidates=(
            CandidateScore("ningxia", -0.58, TERMS),
            CandidateScore("hubei", -0.61, {**TERMS, "energy_cost": -0.65}),
        ),
        trigger="DemandResponse",
        chosen_zone="ningxia",
        signal_external_id="dispatch-0042",
        dr_event_name=EVENT,
    )


def snapshot(uid: str, *, decision_id: int | None, done: bool = True) -> MigrationSnapshot:
    start = T0 + timedelta(seconds=6)
    phases = [
        PhaseSpan("Pending", start, start + timedelta(seconds=1)),
        PhaseSpan("Preflight", start + timedelta(seconds=1), start + timedelta(seconds=2)),
        PhaseSpan("WarmingUp", start + timedelta(seconds=2), start + timedelta(seconds=30)),
    ]
    if done:
        phases.append(PhaseSpan("Completed", start + timedelta(seconds=30)))
    return MigrationSnapshot(
        uid=uid,
        namespace="inference",
        name="chat-72b-demandresponse-x7k2p",
        workload="chat-72b",
        from_cluster="shanghai",
        to_cluster="ningxia",
        reason="shed 500 kW",
        trigger="DemandResponse",
        deadline_seconds=180,
        started_at=start,
        replicas=2,
        kw_moved=280.0 if done else 0.0,
        phases=tuple(phases),
        outcome="Completed" if done else None,
        finished_at=start + timedelta(seconds=30) if done else None,
        deadline_met=True if done else None,
        decision_id=decision_id,
        signal_id="dispatch-0042",
        demand_response_event=EVENT,
    )


def test_the_chain_is_joined_and_why_follows_it_back(door: Ledger) -> None:
    """Order signal -> DR event -> decision (with candidates) -> migration -> phases, and the
    event's states: one question returns all of it."""
    signal_id = dispatch(door)
    (decision_id,) = door.record_decisions([decision()])
    uid = str(uuid.uuid4())
    door.record(snapshot(uid, decision_id=decision_id))
    observed = DrObservation(
        k8s_name=EVENT,
        zone="shanghai",
        kind="shed",
        target_kw=500.0,
        window_start=T0,
        window_end=T0 + timedelta(hours=2),
        response_deadline_seconds=180,
        state="Met",
        shed_kw=520.0,
        in_flight_kw=0.0,
        zone_load_kw=124.6,
        missing_kw=0.0,
        responded_at=T0 + timedelta(seconds=6),
        met_at=T0 + timedelta(seconds=36),
    )
    door.observe_dr_event(observed, at=T0 + timedelta(seconds=36))

    why = door.why(namespace="inference", workload="chat-72b", at=T0 + timedelta(seconds=20))
    assert why is not None
    assert str(why.migration.uid) == uid
    assert why.migration.decision_id == decision_id
    assert [p.phase for p in why.migration.phases] == [
        "Pending",
        "Preflight",
        "WarmingUp",
        "Completed",
    ]
    assert why.decision is not None
    assert (why.decision.id, why.decision.trigger, why.decision.chosen_zone) == (
        decision_id,
        "DemandResponse",
        "ningxia",
    )
    assert str(why.decision.migration_uid) == uid
    assert [c.cluster for c in why.decision.candidates] == ["ningxia", "hubei"]
    assert [s.id for s in why.signals] == [signal_id]
    assert why.dr_event is not None
    event = why.dr_event.event
    assert why.migration.dr_event_id == why.decision.dr_event_id == event.id
    assert (event.k8s_name, event.state, event.outcome) == (EVENT, "Met", "Met")
    assert event.outcome_at == T0 + timedelta(seconds=36)
    assert [t.state for t in why.dr_event.transitions] == ["Scheduled", "Met"]
    assert [(s.shed_kw, s.zone_load_kw) for s in why.dr_event.samples] == [
        (Decimal("520"), Decimal("124.6"))
    ]


def test_a_carried_decision_joins_its_migration_in_either_order(door: Ledger) -> None:
    """The ledger was away when the move was planned: the decision arrives from the Migration
    after the migration's row, or before it; either way they end joined, once."""
    dispatch(door)
    early, late = str(uuid.uuid4()), str(uuid.uuid4())
    door.record(snapshot(late, decision_id=None, done=False))
    (late_id,) = door.record_carried_decisions([(late, decision())])
    (early_id,) = door.record_carried_decisions([(early, decision(at=T0 + timedelta(hours=1)))])
    door.record(snapshot(early, decision_id=None))
    assert door.record_carried_decisions([(late, decision())]) == [late_id]  # once per Migration
    for uid, decision_id in ((late, late_id), (early, early_id)):
        (found,) = [m for m in door.migration_history(workload="chat-72b") if str(m.uid) == uid]
        assert found.decision_id == decision_id
        assert found.dr_event_id is not None
    history = door.decision_history(namespace="inference", workload="chat-72b")
    assert sorted(str(d.migration_uid) for d in history) == sorted([early, late])


def test_a_wrong_decision_id_never_blocks_the_migration_row(door: Ledger) -> None:
    """A Migration naming a decision the ledger lacks, or another workload's, is recorded
    unjoined; a move made by hand keeps the signal its reason names."""
    (other,) = door.record_decisions([decision(workload="embed-7b")])
    for wrong in (other, 999_999):
        uid = str(uuid.uuid4())
        door.record(snapshot(uid, decision_id=wrong))
        (found,) = [m for m in door.migration_history() if str(m.uid) == uid]
        assert (found.decision_id, found.dr_event_id) == (None, None)  # no such event here
        assert found.signal_external_id == "dispatch-0042"
        assert found.outcome == "Completed"
    history = door.decision_history(namespace="inference", workload="embed-7b")
    assert [d.migration_uid for d in history] == [None]


def test_why_picks_the_move_in_flight_else_the_last_one_before(door: Ledger) -> None:
    """At a time inside a move: that move; after it: the last one started; before any: none."""
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    door.record(snapshot(first, decision_id=None))
    later = snapshot(second, decision_id=None, done=False)
    begun = T0 + timedelta(hours=3)
    door.record(replace(later, started_at=begun, phases=(PhaseSpan("Pending", begun),)))

    def move_at(at: datetime) -> str | None:
        why = door.why(namespace="inference", workload="chat-72b", at=at)
        return None if why is None else str(why.migration.uid)

    assert move_at(T0) is None
    assert move_at(T0 + timedelta(seconds=20)) == first
    assert move_at(T0 + timedelta(hours=2)) == first
    assert move_at(T0 + timedelta(hours=4)) == second


def test_gridshift_why_prints_the_chain_as_text_and_json(door: Ledger, database_url: str) -> None:
    """`gridshift why W --at T`: the move, the decision with its candidates, the signal and the
    DR event, read from the ledger alone; --json holds the same ids and figures."""
    signal_id = dispatch(door)
    (decision_id,) = door.record_decisions([decision()])
    uid = str(uuid.uuid4())
    door.record(snapshot(uid, decision_id=decision_id))
    at = (T0 + timedelta(seconds=20)).isoformat()
    runner = CliRunner()
    args = ["why", "inference/chat-72b", "--at", at, "--database-url", database_url]
    shown = runner.invoke(app, args, env={"COLUMNS": "250"})
    assert shown.exit_code == 0, shown.output
    text = shown.stdout
    assert "inference/chat-72b moved shanghai → ningxia" in text
    assert f"decision #{decision_id}" in text
    assert "move → ningxia (zone ningxia), trigger DemandResponse" in text
    assert "* ningxia" in text  # the chosen candidate, with its terms
    assert f"#{signal_id} dr_event dispatch-0042 from native:sgcc-sh" in text
    assert f"DR event {EVENT}" in text

    done = runner.invoke(app, [*args, "--json"], env={"COLUMNS": "250"})
    assert done.exit_code == 0, done.output
    document = json.loads(done.stdout)
    assert document["migration"]["uid"] == uid
    assert document["migration"]["decision_id"] == decision_id
    assert document["decision"]["candidates"][0]["terms"] == TERMS
    assert [s["id"] for s in document["signals"]] == [signal_id]
    assert document["dr_event"]["event"]["k8s_name"] == EVENT

    missing = runner.invoke(
        app, ["why", "inference/chat-72b", "--at", T0.isoformat(), "--database-url", database_url]
    )
    assert missing.exit_code == 1
    assert "holds no move of inference/chat-72b started by" in missing.stderr

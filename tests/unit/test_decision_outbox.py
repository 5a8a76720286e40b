"""A planner decision as the ledger gets it, and as a Migration carries it while the ledger is
away: the names of its causes survive the trip, and the Migration stays a valid object."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from orchestrator.api.migration import MigrationSpec
from orchestrator.controller.decisions import CARRIED, carried, decision_input, read_carried
from orchestrator.controller.planner_loop import migration_body
from orchestrator.errors import LedgerInputError
from orchestrator.planner.model import Candidate, Decision, Intent

NOW = datetime(2026, 7, 15, 6, 0, 5, tzinfo=UTC)
TERMS = {"energy_cost": -0.62, "peak": 0.0, "green": 0.05, "latency": -0.02, "capacity": 0.01}
DECISION = Decision(
    namespace="inference",
    workload="chat-72b",
    zone="shanghai",
    action="move",
    reason="shed 500 kW for shanghai-dispatch-0042",
    chosen_cluster="ningxia",
    candidates=(
        Candidate("ningxia", -0.58, TERMS, eligible=True),
        Candidate("hubei", -0.9, TERMS, eligible=False, why_not="peaking"),
    ),
    trigger="DemandResponse",
)
INTENT = Intent(
    namespace="inference",
    workload="chat-72b",
    from_cluster="shanghai",
    to_cluster="ningxia",
    trigger="DemandResponse",
    message="shed 500 kW",
    kw=280.0,
    gpus=8,
    deadline_seconds=180,
    policy="dispatch",
    demand_response_event="shanghai-dispatch-0042-1a2b3c",
    signal_id="dispatch-0042",
)
ZONES = {"shanghai": "shanghai", "ningxia": "ningxia", "hubei": "hubei"}


def test_a_decision_names_the_signal_and_event_of_its_move() -> None:
    """The ledger's row takes the trigger, signal and DR event from the move, and the zone of
    the chosen cluster."""
    row = decision_input(DECISION, INTENT, decided_at=NOW, plan_id="plan-1", cluster_zones=ZONES)
    assert (row.trigger, row.signal_external_id, row.dr_event_name, row.chosen_zone) == (
        "DemandResponse",
        "dispatch-0042",
        "shanghai-dispatch-0042-1a2b3c",
        "ningxia",
    )
    assert [c.cluster for c in row.candidates] == ["ningxia", "hubei"]
    held = decision_input(
        Decision("inference", "embed", "shanghai", "hold", "calm", None, ()),
        None,
        decided_at=NOW,
        plan_id="plan-1",
        cluster_zones=ZONES,
    )
    assert (held.signal_external_id, held.dr_event_name, held.chosen_zone) == (None, None, None)


def test_a_migration_names_its_decision_or_carries_it() -> None:
    """With the ledger's id the spec names it; without, the decision rides in an annotation
    and reads back equal; either way the body is a valid Migration."""
    row = decision_input(DECISION, INTENT, decided_at=NOW, plan_id="plan-1", cluster_zones=ZONES)
    named = migration_body(INTENT, decision_id=42, decision=row)
    assert named["spec"]["reason"]["decisionID"] == 42
    assert "annotations" not in named["metadata"]
    assert MigrationSpec.model_validate(named["spec"]).reason.decision_id == 42

    away = migration_body(INTENT, decision_id=None, decision=row)
    assert "decisionID" not in away["spec"]["reason"]
    MigrationSpec.model_validate(away["spec"])
    obj = {**away, "metadata": {**away["metadata"], "namespace": "inference"}}
    assert read_carried(obj) == row
    assert read_carried({"metadata": {}, "spec": {}}) is None


def test_a_carried_decision_that_cannot_be_read_is_refused_by_name() -> None:
    """A hand-edited annotation is a LedgerInputError naming the annotation."""
    bad = {
        "metadata": {"namespace": "inference", "annotations": {CARRIED: '{"action": "move"}'}},
        "spec": {"workload": "chat-72b"},
    }
    with pytest.raises(LedgerInputError, match=CARRIED):
        read_carried(bad)
    assert len(carried(decision_input(DECISION, INTENT, decided_at=NOW, plan_id="p",
                                      cluster_zones=ZONES))) < 16_000  # fmt: skip

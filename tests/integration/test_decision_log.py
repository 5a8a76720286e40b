"""The planner's decisions reach a real PostgreSQL: written through before their Migration is
created, or carried by it while the ledger is away and relayed once it answers."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.controller.decisions import (
    DECISION_REFRESH,
    DecisionLog,
    decision_input,
)
from orchestrator.controller.planner_loop import migration_body
from orchestrator.devenv.procs import free_port
from orchestrator.ledger.handle import Ledger
from orchestrator.ledger.records import DecisionInput
from orchestrator.planner.model import Candidate, Decision, Intent

NOW = datetime(2026, 7, 15, 6, 0, 5, tzinfo=UTC)
TERMS = {"energy_cost": -0.62, "peak": 0.0, "green": 0.05, "latency": -0.02, "capacity": 0.01}


@pytest.fixture
def door(ledger_door: Ledger, factory: sessionmaker[Session]) -> Ledger:
    """The door on a ledger emptied for this test."""
    return ledger_door


def row(workload: str, *, action: str = "move", at: datetime = NOW) -> DecisionInput:
    decision = Decision(
        namespace="inference",
        workload=workload,
        zone="shanghai",
        action=action,  # type: ignore[arg-type]
        reason=f"{action} {workload}",
        chosen_cluster="ningxia" if action == "move" else None,
        candidates=(Candidate("ningxia", -0.58, TERMS, eligible=True),),
        trigger="PeakLevel" if action == "move" else None,
    )
    return decision_input(
        decision, None, decided_at=at, plan_id="plan-1", cluster_zones={"ningxia": "ningxia"}
    )


def test_decisions_are_written_through_and_repeats_wait_for_the_refresh(door: Ledger) -> None:
    """Move decisions get ids at once; an unchanged hold is written again only after the
    refresh time."""
    log = DecisionLog(door)
    ids = asyncio.run(log.write_moves([row("chat-72b")]))
    assert ids is not None
    assert list(ids) == [("inference", "chat-72b")]
    asyncio.run(log.write_rest([row("embed", action="hold")], NOW))
    asyncio.run(log.write_rest([row("embed", action="hold", at=NOW + timedelta(minutes=1))],
                               NOW + timedelta(minutes=1)))  # fmt: skip
    later = NOW + DECISION_REFRESH
    asyncio.run(log.write_rest([row("embed", action="hold", at=later)], later))
    held = door.decision_history(namespace="inference", workload="embed")
    assert [d.decided_at for d in held] == [later, NOW]


def test_while_the_ledger_is_away_the_migration_carries_its_decision(door: Ledger) -> None:
    """The write fails: no id, the Migration carries the decision; relayed from the hub's
    Migrations once the ledger answers, once however often it is relayed."""
    away = Ledger(
        f"postgresql+psycopg://gs:none@127.0.0.1:{free_port()}/gs", connect_timeout_seconds=2
    )
    try:
        assert asyncio.run(DecisionLog(away).write_moves([row("chat-72b")])) is None
    finally:
        away.close()
    intent = Intent(
        namespace="inference",
        workload="chat-72b",
        from_cluster="shanghai",
        to_cluster="ningxia",
        trigger="PeakLevel",
        message="peak",
        kw=280.0,
        gpus=8,
        deadline_seconds=180,
    )
    body = migration_body(intent, decision_id=None, decision=row("chat-72b"))
    uid = str(uuid.uuid4())
    created = {**body, "metadata": {**body["metadata"], "namespace": "inference", "uid": uid}}
    log = DecisionLog(door)
    asyncio.run(log.relay([created]))
    asyncio.run(log.relay([created]))
    asyncio.run(DecisionLog(door).relay([created]))  # a new leader relays it again
    (recorded,) = door.decision_history(namespace="inference", workload="chat-72b")
    assert str(recorded.migration_uid) == uid
    assert (recorded.action, recorded.chosen_cluster, recorded.decided_at) == (
        "move",
        "ningxia",
        NOW,
    )

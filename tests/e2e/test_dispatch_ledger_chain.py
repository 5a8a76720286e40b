"""One dispatch order from the webhook to the ledger, and the chain read back from the ledger
alone: signal -> DR event -> decision (with candidates) -> migration -> phases, the event's
states to its final one, `gridshift why` and `gridshift report` with its chart.

The stage, the grid operator and the workloads are the demand-response test's
(``test_planner_demand_response``): four workloads at home in Shanghai, 530 kW, and an order to
shed 300 kW within 180 s for a window of 100 s.
"""

from __future__ import annotations

import json
import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import Stage
from kube import wait_for
from test_planner_demand_response import (  # the same stage and grid operator
    NS,
    Grid,
    _calm_grid,
    _create_workloads,
    _migrations,
    _where,
    scene,
)
from typer.testing import CliRunner

from orchestrator.api.common import GROUP, VERSION
from orchestrator.api.migration import PHASES
from orchestrator.cli import app
from orchestrator.ledger.handle import Ledger

pytestmark = pytest.mark.e2e
__all__ = ["scene"]  # the fixture, shared with the demand-response test

SIZES_KW = (200, 150, 100, 80)
SHED_KW = 300.0
WINDOW_SECONDS = 100


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _event(stage: Stage, event_id: str) -> dict[str, Any] | None:
    found = stage.objects.list_cluster_custom_object(GROUP, VERSION, "demandresponseevents")
    for item in found["items"]:
        if (item["spec"].get("source") or {}).get("eventID") == event_id:
            return dict(item)
    return None


def test_a_dispatch_order_is_one_joined_chain_in_the_ledger(
    stage: Stage, scene: Grid, tmp_path: Path
) -> None:
    """The order's signal names its DR event; each move's Migration names its decision, whose
    candidates chose the target and whose signals are the order; the migration rows carry the
    phases the Migrations went through; the event ends Met, then Ended, in the ledger."""
    scene.send(_calm_grid(datetime.now(UTC)))
    _create_workloads(stage, SIZES_KW)
    event_id = f"chain-{uuid.uuid4().hex[:8]}"
    ordered_at = datetime.now(UTC)
    scene.send(
        [
            {
                "type": "drOrder",
                "id": event_id,
                "eventID": event_id,
                "zone": "shanghai",
                "start": ordered_at.isoformat(),
                "end": (ordered_at + timedelta(seconds=WINDOW_SECONDS)).isoformat(),
                "shedKW": SHED_KW,
                "responseDeadlineSeconds": 180,
            }
        ]
    )
    met = wait_for(
        lambda: (
            (e := _event(stage, event_id)) and (e.get("status") or {}).get("state") == "Met" and e
        ),
        timeout=200,
        interval=2,
        what="the DemandResponseEvent to be Met",
    )
    name = met["metadata"]["name"]
    ledger = Ledger(stage.database_url)
    try:
        story = wait_for(
            lambda: (s := ledger.dr_event_story(name)) and s.event.state == "Ended" and s,
            timeout=WINDOW_SECONDS + 60,
            interval=2,
            what="the ledger's DR event to end after its window",
        )
        moved = [
            m for m in _migrations(stage)
            if m["spec"]["reason"].get("demandResponseEvent") == name
        ]  # fmt: skip
        assert moved
        assert {m["status"]["phase"] for m in moved} == {"Completed"}

        # signal -> DR event
        event = story.event
        assert (event.source, event.external_id, event.zone) == (
            "native:e2e-grid",
            f"shanghai/{event_id}",
            "shanghai",
        )
        assert (event.outcome, float(event.target_kw)) == ("Met", SHED_KW)
        assert event.met_at == event.outcome_at == _time(met["status"]["metAt"])
        assert [t.state for t in story.transitions] == ["Scheduled", "Active", "Met", "Ended"]
        assert float(story.samples[-1].shed_kw) >= SHED_KW
        assert [s.sampled_at for s in story.samples] == sorted(s.sampled_at for s in story.samples)

        for migration in moved:
            spec, status, meta = migration["spec"], migration["status"], migration["metadata"]
            started = _time(status["startTime"])
            why = ledger.why(
                namespace=NS, workload=spec["workload"], at=started + timedelta(seconds=1)
            )
            assert why is not None
            # migration -> phases
            row = why.migration
            assert str(row.uid) == meta["uid"]
            entered = {
                key[0].upper() + key[1:]: _time(at) for key, at in status["phaseTimes"].items()
            }
            in_order = sorted(entered, key=lambda phase: (entered[phase], PHASES.index(phase)))
            assert [p.phase for p in row.phases] == in_order
            assert [p.phase for p in row.phases][-1] == "Completed"
            assert (row.outcome, row.dr_event_id) == ("Completed", event.id)
            # migration -> decision (with candidates)
            decision = why.decision
            assert decision is not None
            assert row.decision_id == decision.id == spec["reason"]["decisionID"]
            assert str(decision.migration_uid) == meta["uid"]
            assert (decision.action, decision.trigger, decision.dr_event_id) == (
                "move",
                "DemandResponse",
                event.id,
            )
            assert decision.chosen_cluster == spec["toCluster"]
            assert spec["toCluster"] in {c.cluster for c in decision.candidates}
            # decision -> signal(s) -> the order
            assert event_id in {s.external_id for s in why.signals}
            (order,) = [s for s in why.signals if s.external_id == event_id]
            assert order.kind == "dr_event"
            # decision -> DR event
            assert why.dr_event is not None
            assert why.dr_event.event.id == event.id

        chart = tmp_path / "dispatch.svg"
        runner = CliRunner()
        shown = runner.invoke(
            app,
            ["report", "--event", name, "--format", "json", "--chart", str(chart),
             "--database-url", stage.database_url],
        )  # fmt: skip
        assert shown.exit_code == 0, shown.output
        (reported,) = json.loads(shown.stdout)["events"]
        assert (reported["outcome"], reported["state"]) == ("Met", "Ended")
        assert {m["uid"] for m in reported["moves"]} == {m["metadata"]["uid"] for m in moved}
        root = ET.parse(chart).getroot()  # noqa: S314  # the file the command just wrote
        points = root.findall(".//{http://www.w3.org/2000/svg}circle[@class='sample']")
        assert [float(p.get("data-kw", "nan")) for p in points] == [
            float(s.shed_kw) for s in story.samples
        ]
    finally:
        ledger.close()
    # leave the scene as the demand-response test does: every workload home, no move in flight
    wait_for(
        lambda: (
            set(_where(stage).values()) == {"shanghai"}
            and all(
                (m.get("status") or {}).get("phase") in ("Completed", "RolledBack", "Failed")
                for m in _migrations(stage)
            )
        ),
        timeout=240,
        interval=3,
        what="every workload back home in shanghai",
    )

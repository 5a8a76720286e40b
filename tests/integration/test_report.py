"""`gridshift report` on a real ledger: a dispatch order's compliance from PostgreSQL alone, as
text, JSON and CSV, and a chart whose every number is the ledger's."""

from __future__ import annotations

import csv
import io
import json
import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

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
from orchestrator.report.chart import BOTTOM, LEFT, PANEL, RIGHT, TOP, WIDTH
from orchestrator.signals.model import Signal

T0 = datetime(2025, 7, 4, 6, 0, tzinfo=UTC)  # 14:00 in Shanghai
END = T0 + timedelta(hours=2)
EVENT = "shanghai-dispatch-0704-5f3a"
TERMS = {"energy_cost": -0.5, "peak": 0.0, "green": 0.05, "latency": -0.02, "capacity": 0.01}
PRICE = {"shanghai": 1.2, "hubei": 0.7, "ningxia": 0.4}
MOVES = (("chat-72b", "ningxia", 300.0, 30), ("vision-32b", "hubei", 220.0, 45))
"""(workload, target, kW, seconds after the window opened that the move completed)"""
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def door(ledger_door: Ledger, factory: sessionmaker[Session]) -> Ledger:
    """The door on a ledger emptied for this test."""
    return ledger_door


def price(zone: str) -> SignalInput:
    """One price for the whole afternoon, as the native webhook records it."""
    signal = Signal(
        source="native:sgcc",
        external_id=f"price-{zone}",
        zone=zone,
        kind="price",
        start=T0 - timedelta(hours=1),
        end=T0 + timedelta(hours=6),
        value=PRICE[zone],
        unit="CNY/kWh",
    )
    return SignalInput(
        source=signal.source,
        external_id=signal.external_id,
        zone=zone,
        kind="price",
        interval_start=signal.start,
        interval_end=signal.end,
        value=signal.value,
        unit=signal.unit,
        payload=signal.to_json(),
    )


def observe(door: Ledger, at: datetime, *, shed: float, state: str, met: datetime | None) -> None:
    door.observe_dr_event(
        DrObservation(
            k8s_name=EVENT,
            zone="shanghai",
            kind="shed",
            target_kw=500.0,
            window_start=T0,
            window_end=END,
            response_deadline_seconds=180,
            state=state,
            shed_kw=shed,
            in_flight_kw=0.0,
            zone_load_kw=644.6 - shed,
            missing_kw=max(0.0, 500.0 - shed),
            responded_at=T0 + timedelta(seconds=2),
            met_at=met,
            message=f"{shed} kW shed",
        ),
        at=at,
    )


def dispatch_day(door: Ledger) -> list[str]:
    """The ledger of one dispatch: prices, the order, two moves answering it, going home after
    the window, and the event's curve from Active to Met to Ended. The uids of the moves."""
    door.record_signals([price(z) for z in PRICE])
    ((order_id, _),) = door.record_signals(
        [
            SignalInput(
                source="native:sgcc",
                external_id="dispatch-0704",
                zone="shanghai",
                kind="dr_event",
                interval_start=T0,
                interval_end=END,
                value=500.0,
                unit="kW",
                payload={"id": "dispatch-0704"},
            )
        ]
    )
    door.apply_dr_order(
        DrOrderInput(
            source="native:sgcc",
            external_id="shanghai/dispatch-0704",
            zone="shanghai",
            kind="shed",
            target_kw=500.0,
            window_start=T0,
            window_end=END,
            response_deadline_seconds=180,
            k8s_name=EVENT,
            signal_ids=(order_id,),
        ),
        at=T0 - timedelta(seconds=1),
    )
    uids = []
    for workload, target, kw, seconds in MOVES:
        decided = T0 + timedelta(seconds=1)
        (decision_id,) = door.record_decisions(
            [
                DecisionInput(
                    decided_at=decided,
                    plan_id="plan-1",
                    namespace="inference",
                    workload=workload,
                    zone="shanghai",
                    action="move",
                    reason=f"shed 500 kW for {EVENT}: {workload} to {target}",
                    chosen_cluster=target,
                    candidates=(CandidateScore(target, -0.4, TERMS),),
                    trigger="DemandResponse",
                    chosen_zone=target,
                    signal_external_id="dispatch-0704",
                    dr_event_name=EVENT,
                )
            ]
        )
        start, done = T0 + timedelta(seconds=2), T0 + timedelta(seconds=seconds)
        uid = str(uuid.uuid4())
        uids.append(uid)
        door.record(
            MigrationSnapshot(
                uid=uid,
                namespace="inference",
                name=f"{workload}-demandresponse-x",
                workload=workload,
                from_cluster="shanghai",
                to_cluster=target,
                reason="shed",
                trigger="DemandResponse",
                deadline_seconds=180,
                started_at=start,
                replicas=2,
                kw_moved=kw,
                phases=(
                    PhaseSpan("Pending", start, start + timedelta(seconds=1)),
                    PhaseSpan("WarmingUp", start + timedelta(seconds=1), done),
                    PhaseSpan("Completed", done),
                ),
                outcome="Completed",
                finished_at=done,
                deadline_met=True,
                decision_id=decision_id,
                signal_id="dispatch-0704",
                demand_response_event=EVENT,
            )
        )
        home, back = END + timedelta(minutes=1), END + timedelta(minutes=2)
        door.record(
            MigrationSnapshot(
                uid=str(uuid.uuid4()),
                namespace="inference",
                name=f"{workload}-returnhome-y",
                workload=workload,
                from_cluster=target,
                to_cluster="shanghai",
                reason="home",
                trigger="ReturnHome",
                deadline_seconds=180,
                started_at=home,
                replicas=2,
                kw_moved=kw,
                phases=(PhaseSpan("Pending", home), PhaseSpan("Completed", back)),
                outcome="Completed",
                finished_at=back,
                deadline_met=True,
            )
        )
    observe(door, T0 + timedelta(seconds=2), shed=0.0, state="Active", met=None)
    observe(door, T0 + timedelta(seconds=30), shed=300.0, state="Active", met=None)
    met = T0 + timedelta(seconds=45)
    observe(door, met, shed=520.0, state="Met", met=met)
    observe(door, END + timedelta(seconds=5), shed=520.0, state="Met", met=met)
    return uids


def gridshift(*args: str) -> tuple[int, str, str]:
    done = CliRunner().invoke(app, list(args), env={"COLUMNS": "250"})
    return done.exit_code, done.stdout, done.stderr


def test_report_of_one_event_in_every_format_equals_the_ledger(
    door: Ledger, database_url: str, tmp_path: Path
) -> None:
    """The event Met 45 s after the order with its curve, both moves with phases and causes,
    energy = kW x hours away in the window, saving = that x the price difference; the chart's
    points and target line are the ledger's samples and target, at the axes' scale."""
    dispatch_day(door)
    story = door.dr_event_story(EVENT)
    assert story is not None
    chart = tmp_path / "shed.svg"
    base = ["report", "--event", EVENT, "--database-url", database_url]

    code, out, err = gridshift(*base, "--format", "json", "--chart", str(chart))
    assert code == 0, err
    (event,) = json.loads(out)["events"]
    assert (event["state"], event["outcome"]) == ("Ended", "Met")
    assert event["outcome_at"] == (T0 + timedelta(seconds=45)).isoformat()
    assert [s for s, _ in event["transitions"]] == ["Scheduled", "Active", "Met", "Ended"]
    assert event["order"] == ["dispatch-0704"]
    assert [(p["shed_kw"], p["state"]) for p in event["curve"]] == [
        (float(s.shed_kw), s.state) for s in story.samples
    ]
    energy = {m["workload"]: m["energy_kwh"] for m in event["moves"]}
    saving = {m["workload"]: m["saving"] for m in event["moves"]}
    for workload, target, kw, seconds in MOVES:
        hours = (END - (T0 + timedelta(seconds=seconds))).total_seconds() / 3600
        assert energy[f"inference/{workload}"] == pytest.approx(kw * hours, abs=1e-3)
        expected = kw * hours * (PRICE["shanghai"] - PRICE[target])
        assert saving[f"inference/{workload}"] == pytest.approx(expected, abs=0.01)
    assert event["energy_kwh"] == pytest.approx(sum(energy.values()), abs=1e-3)
    assert event["currency"] == "CNY"
    moved = event["moves"][0]
    assert [p["phase"] for p in moved["phases"]] == ["Pending", "WarmingUp", "Completed"]
    assert moved["signals"] == ["dispatch-0704"]
    assert moved["reason"].startswith(f"shed 500 kW for {EVENT}")

    root = ET.parse(chart).getroot()  # noqa: S314  # the file this test just had written
    samples = root.findall(f".//{SVG}circle[@class='sample']")
    assert [(c.get("data-at"), float(c.get("data-kw", "nan"))) for c in samples] == [
        (s.sampled_at.isoformat(), float(s.shed_kw)) for s in story.samples
    ]
    (target,) = root.findall(f".//{SVG}line[@class='target']")
    assert float(target.get("data-kw", "nan")) == float(story.event.target_kw)
    top_kw = max(520.0, 500.0) * 1.1
    height = PANEL - TOP - BOTTOM
    for circle in samples:
        kw = float(circle.get("data-kw", "nan"))
        assert float(circle.get("cy", "nan")) == pytest.approx(
            TOP + height - kw / top_kw * height, abs=0.01
        )
    assert float(target.get("y1", "nan")) == pytest.approx(
        TOP + height - 500 / top_kw * height, abs=0.01
    )
    xs = [float(c.get("cx", "nan")) for c in samples]
    assert xs == sorted(xs)
    assert LEFT <= xs[0] <= xs[-1] <= WIDTH - RIGHT
    (met,) = root.findall(f".//{SVG}line[@class='mark met']")
    assert met.get("data-at") == (T0 + timedelta(seconds=45)).isoformat()

    code, out, err = gridshift(*base, "--format", "csv", "--csv-table", "curve")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["sampled_at"], float(r["shed_kw"]), r["met"]) for r in rows] == [
        (s.sampled_at.isoformat(), float(s.shed_kw), str(float(s.shed_kw) >= 500))
        for s in story.samples
    ]
    code, out, err = gridshift(*base, "--format", "csv", "--csv-table", "moves")
    assert code == 0, err
    assert {r["workload"] for r in csv.DictReader(io.StringIO(out))} == {
        "inference/chat-72b",
        "inference/vision-32b",
    }

    code, out, err = gridshift(*base)
    assert code == 0, err
    assert f"event {EVENT}" in out
    assert (
        "outcome    Met at 2025-07-04T06:00:45+00:00 (target met 45 s after the window opened)"
        in out
    )
    assert "inference/chat-72b shanghai → ningxia (zone ningxia), DemandResponse, Completed" in out
    assert "total: 1 event(s), 1 Met, 0 Missed" in out


def test_report_of_a_day_lists_its_events_and_refuses_bad_input(
    door: Ledger, database_url: str
) -> None:
    """A day in Shanghai's time lists the events whose window opened on it; an unknown event,
    day or format is refused with a clear error."""
    dispatch_day(door)
    code, out, err = gridshift(
        "report", "--day", "2025-07-04", "--timezone", "Asia/Shanghai", "--format", "csv",
        "--database-url", database_url,
    )  # fmt: skip
    assert code == 0, err
    (row,) = csv.DictReader(io.StringIO(out))
    assert (row["event"], row["outcome"], row["moves"]) == (EVENT, "Met", "2")
    code, out, _ = gridshift("report", "--day", "2025-07-05", "--database-url", database_url)
    assert code == 0
    assert "No demand-response event in the ledger for this selection." in out
    code, _, err = gridshift("report", "--event", "nope", "--database-url", database_url)
    assert code == 1
    assert "holds no DR event whose object is 'nope'" in err
    assert gridshift("report", "--day", "July 4th", "--database-url", database_url)[0] == 2
    assert gridshift("report", "--format", "xml", "--database-url", database_url)[0] == 2

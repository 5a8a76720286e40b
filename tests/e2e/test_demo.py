"""`gridshift demo --short` end to end, against the session's fleet, PostgreSQL and operator.

Why not a fleet of its own: a second fleet (three control planes, KWOK, PostgreSQL) next to the
session's doubles the load on a two-core machine and adds minutes; and the demo is meant to run
against a fleet that is already up. So the test runs the demo as a subprocess with the session's
fleet directory (``--workdir``: it finds the fleet up and reuses it), the session's database
(``--database-url``) and the stage's operator (``--webhook-url``: it starts none of its own, so
two operators never act on one hub), in a namespace of its own. The stage's operator reads new
grid-operator tokens and zones every 30 s; the demo retries its first post until accepted.

What the demo leaves behind would change the other tests' world (Hubei at peak level 2 for ten
minutes refuses moves into it), so the module removes its zones, policy, dispatch event and
workloads at the end.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import Stage
from operator_process import GRIDSHIFT, HUB

from orchestrator.devenv.demo_scenario import HOME, SHORT, SimClock, tariffs, zone_hours
from orchestrator.devenv.demo_state import LEDGER_TABLES
from orchestrator.ledger.models import Base

NAMESPACE = "gridshift-demo"
REPO = Path(__file__).resolve().parents[2]
DEMO_ZONES = ("shanghai", "hubei", "ningxia")


@dataclass
class DemoRun:
    """The finished demo: its exit code, its output, and the hub it left."""

    code: int
    out: str
    stage: Stage

    def get(self, *what: str) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(
            self.stage.fleet.kubectl(HUB, "get", *what, "-o", "json")
        )
        return found


def _clean(stage: Stage) -> None:
    fleet = stage.fleet
    fleet.kubectl(HUB, "delete", "inferenceworkloads.gridshift.io", "--all", "-n", NAMESPACE,
                  "--ignore-not-found", "--timeout=120s", timeout=150)  # fmt: skip
    fleet.kubectl(HUB, "delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=false")
    fleet.kubectl(HUB, "delete", "migrationpolicies.gridshift.io", "demo-dispatch",
                  "--ignore-not-found")  # fmt: skip
    events = json.loads(
        fleet.kubectl(HUB, "get", "demandresponseevents.gridshift.io", "-o", "json")
    )
    for item in events["items"]:
        if str(item["spec"]["source"].get("eventID", "")).startswith("demo-dispatch-"):
            fleet.kubectl(HUB, "delete", "demandresponseevents.gridshift.io",
                          item["metadata"]["name"], "--ignore-not-found")  # fmt: skip
    fleet.kubectl(HUB, "delete", "gridzones.gridshift.io", *DEMO_ZONES, "--ignore-not-found")


@pytest.fixture(scope="module")
def demo(stage: Stage) -> Iterator[DemoRun]:
    """The short demo, run once as `gridshift demo --short` with the session's fleet."""
    command = [
        str(GRIDSHIFT), "demo", "--short", "--no-live",
        "--workdir", str(stage.fleet.workdir),
        "--database-url", stage.database_url,
        "--webhook-url", f"http://127.0.0.1:{stage.operator.webhook_port}",
        "--namespace", NAMESPACE,
    ]  # fmt: skip
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=600, cwd=REPO, check=False
        )
        print(done.stdout[-6000:])
        print(done.stderr[-3000:], file=sys.stderr)
        yield DemoRun(done.returncode, done.stdout, stage)
    finally:
        _clean(stage)


def test_the_demo_ends_with_its_summary(demo: DemoRun) -> None:
    """Exit 0; the summary names migrations, the dispatch, the saving and the ledger's tables."""
    assert demo.code == 0, demo.out[-3000:]
    assert "gridshift demo: summary" in demo.out
    for words in ("completed within the deadline:", "dispatch: shed 25 kW",
                  "estimated energy-cost saving:", ", ".join(LEDGER_TABLES)):  # fmt: skip
        assert words in demo.out


def test_the_ledger_url_is_shown_without_its_password(demo: DemoRun) -> None:
    """The database URL appears with *** where the password was."""
    password = demo.stage.database_url.split("://", 1)[1].split("@", 1)[0].partition(":")[2]
    assert password
    assert password not in demo.out
    assert ":***@" in demo.out


def test_every_hour_of_the_tariff_day_was_posted(demo: DemoRun) -> None:
    """One line per simulated hour, with the shipped tariff's Shanghai price of that hour."""
    schedules = tariffs(SHORT.day)
    for hour in range(1, 24):
        price = next(z.price for z in zone_hours(schedules, SHORT.day, hour) if z.zone == HOME)
        expected = f"[{hour:02d}:00] posted "
        line = next((ln for ln in demo.out.splitlines() if ln.startswith(expected)), None)
        assert line is not None, f"no post for {hour:02d}:00"
        assert f"shanghai {price:.4f} CNY/kWh" in line


def test_the_operator_turned_the_last_prices_into_zone_status(demo: DemoRun) -> None:
    """Each zone's status shows the price and peak level the demo posted for 23:00."""
    last = {z.zone: z for z in zone_hours(tariffs(SHORT.day), SHORT.day, 23)}
    for zone in DEMO_ZONES:
        status = demo.get("gridzones.gridshift.io", zone).get("status") or {}
        assert status.get("pricePerKWh") == pytest.approx(last[zone].price)
        assert status.get("peakLevel") == last[zone].level


def test_the_dispatch_order_became_a_demand_response_event(demo: DemoRun) -> None:
    """The OpenADR setpoint the demo printed is the DemandResponseEvent's import cap."""
    line = next(ln for ln in demo.out.splitlines() if "OpenADR dispatch posted" in ln)
    setpoint = float(line.split("setpoint ")[1].split(" kW")[0])
    events = [
        e
        for e in demo.get("demandresponseevents.gridshift.io")["items"]
        if str(e["spec"]["source"].get("eventID", "")).startswith("demo-dispatch-")
    ]
    assert len(events) == 1
    spec = events[0]["spec"]
    assert (spec["zone"], spec["source"]["kind"]) == ("shanghai", "OpenADR")
    assert spec["importCapKW"] == pytest.approx(setpoint)
    assert spec["responseDeadlineSeconds"] == 180


def test_moves_meet_the_deadline_and_workloads_end_at_home(demo: DemoRun) -> None:
    """The dispatch moves Completed in time, and every workload is home again."""
    moves = demo.get("migrations.gridshift.io", "-n", NAMESPACE)["items"]
    workloads = demo.get("inferenceworkloads.gridshift.io", "-n", NAMESPACE)["items"]
    assert len(workloads) == len(SHORT.workloads) + 1  # and the live one, on real pods
    for w in workloads:
        status = w.get("status") or {}
        assert status.get("currentCluster") == "shanghai", w["metadata"]["name"]
        assert status.get("readyReplicas") == w["spec"]["template"]["replicas"]
    assert moves, "the dispatch order moved nothing"
    for m in moves:
        status = m.get("status") or {}
        assert status.get("phase") == "Completed", m["metadata"]["name"]
        assert status.get("deadlineMet") is True, m["metadata"]["name"]
    assert "target met" in demo.out
    assert f"completed within the deadline: {len(moves)}" in demo.out


def test_the_live_workloads_users_were_answered_through_its_moves(demo: DemoRun) -> None:
    """The workload on real pods moved with the dispatch and back, under the demo's requests
    through the edge: answers came from Shanghai and from where it went, none failed or was
    cut, and the summary says so for the time the moves were in flight."""
    assert SHORT.live is not None
    name = f"{NAMESPACE}/{SHORT.live.name}"
    moves = demo.get("migrations.gridshift.io", "-n", NAMESPACE)["items"]
    assert any(m["spec"]["workload"] == SHORT.live.name for m in moves), "it never moved"
    summary = re.search(
        rf"requests through the edge to {name} \(on real pods\): (\d+) sent, (\d+) answered, "
        r"(\d+) failed, (\d+) streams cut; during the (\d+) moves: (\d+) answered, (\d+) "
        "failed or cut",
        demo.out,
    )
    assert summary is not None, demo.out[-3000:]
    _, answered, failed, cut, _, answered_moving, failed_moving = map(int, summary.groups())
    assert (failed, cut, failed_moving) == (0, 0, 0), demo.out[-3000:]
    assert answered > 0
    assert answered_moving > 0
    live = [ln for ln in demo.out.splitlines() if f"requests to {name} through the edge" in ln]
    assert live, "no live request counts were shown while it moved"
    by_cluster = re.search(r"answered \(([^)]*)\)", live[-1])
    assert by_cluster is not None
    assert {"shanghai"} < {part.split()[0] for part in by_cluster.group(1).split(", ")}


def test_the_dispatch_comes_when_only_shanghai_peaks() -> None:
    """At 18:00 every province peaks (nowhere to go); at the 14:00 dispatch only Shanghai does."""
    schedules = tariffs(SHORT.day)
    evening = {z.zone: z.level for z in zone_hours(schedules, SHORT.day, 18)}
    assert min(evening.values()) >= 2
    afternoon = {
        z.zone: z.level for z in zone_hours(schedules, SHORT.day, int(SHORT.dispatch_hour))
    }
    assert afternoon[HOME] >= 2
    assert all(level < 2 for zone, level in afternoon.items() if zone != HOME)


def test_the_simulated_clock_runs_both_ways() -> None:
    """hour_at inverts real_at across segments, and the day ends held at 24:00."""
    clock = SimClock(((0, 1.0), (14, 10.0), (16, 2.0)))
    assert clock.real_seconds == pytest.approx(14 + 20 + 16)
    for hour in (0.0, 7.5, 14.0, 15.25, 16.0, 23.9):
        assert clock.hour_at(clock.real_at(hour)) == pytest.approx(hour)
    assert clock.hour_at(clock.real_seconds + 100) == 24.0


def test_the_summary_names_the_ledgers_real_tables() -> None:
    """The tables the summary points at are the ledger's."""
    assert set(LEDGER_TABLES) <= set(Base.metadata.tables)

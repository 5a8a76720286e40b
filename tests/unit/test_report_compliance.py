"""A DR event's compliance from plain ledger records: what counts as shed, priced and met."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from orchestrator.ledger.records import (
    DecisionRecord,
    DrEventRecord,
    DrEventStory,
    DrReportInputs,
    DrSampleRecord,
    MigrationRecord,
    ReportedMove,
    SignalRecord,
)
from orchestrator.report.chart import scale, svg
from orchestrator.report.compliance import event_report
from orchestrator.signals.model import Signal

T0 = datetime(2025, 7, 4, 6, 0, tzinfo=UTC)


def event(kind: str = "shed", target: float = 500.0, end: datetime | None = None) -> DrEventRecord:
    return DrEventRecord(
        id=1, source="native:sgcc", external_id="shanghai/o1", zone="shanghai", kind=kind,
        target_kw=Decimal(str(target)), window_start=T0, window_end=end,
        response_deadline_seconds=180, state="Active", achieved_kw=None, responded_at=None,
        k8s_name="shanghai-o1", created_at=T0, updated_at=T0,
    )  # fmt: skip


def sample(seconds: int, *, shed: float, load: float, state: str = "Active") -> DrSampleRecord:
    return DrSampleRecord(
        sampled_at=T0 + timedelta(seconds=seconds), state=state, shed_kw=Decimal(str(shed)),
        in_flight_kw=Decimal(0), zone_load_kw=Decimal(str(load)),
        missing_kw=Decimal(str(max(0.0, 500 - shed))),
    )  # fmt: skip


def price(zone: str, value: float, start: datetime, end: datetime, *, row: int) -> SignalRecord:
    signal = Signal(
        source="tou:x", external_id=f"p-{zone}-{row}", zone=zone, kind="price", start=start,
        end=end, value=value, unit="CNY/kWh",
    )  # fmt: skip
    return SignalRecord(
        id=row, source=signal.source, external_id=signal.external_id, zone=zone, kind="price",
        interval_start=start, interval_end=end, value=Decimal(str(value)), unit=signal.unit,
        payload=signal.to_json(), received_at=start, processed_at=None,
    )  # fmt: skip


def move(outcome: str, done_after: int, kw: float, *, to_zone: str | None) -> ReportedMove:
    finished = T0 + timedelta(seconds=done_after)
    migration = MigrationRecord(
        uid=uuid.uuid4(), namespace="inference", name="m", workload="chat", from_cluster="sh",
        to_cluster="nx", reason="", trigger="DemandResponse", dr_event_id=1,
        deadline_seconds=180, started_at=T0, finished_at=finished, phase=outcome,
        outcome=outcome, deadline_met=outcome == "Completed", kw_moved=Decimal(str(kw)),
        replicas=1, message=None, phases=(), decision_id=7,
    )  # fmt: skip
    decision = DecisionRecord(
        id=7, decided_at=T0, namespace="inference", workload="chat", zone="shanghai",
        action="move", reason="shed", chosen_cluster="nx", candidates=(), plan_id="p",
        migration_uid=migration.uid, chosen_zone=to_zone,
    )  # fmt: skip
    return ReportedMove(migration=migration, decision=decision, signals=(), left_target_at=None)


def test_energy_is_counted_inside_the_window_and_priced_only_where_both_prices_are_known() -> None:
    """A move done 1 h before a 3 h window ends counts 1 h; the target's price is known for the
    first half hour only, so half the energy is priced; a rolled-back move sheds nothing."""
    end = T0 + timedelta(hours=3)
    inputs = DrReportInputs(
        story=DrEventStory(event=event(end=end), transitions=(), samples=()),
        order_signals=(),
        moves=(
            move("Completed", 2 * 3600, 100.0, to_zone="ningxia"),
            move("RolledBack", 60, 50.0, to_zone="ningxia"),
        ),
        prices={
            "shanghai": (price("shanghai", 1.2, T0, end, row=1),),
            "ningxia": (price("ningxia", 0.4, T0, T0 + timedelta(hours=2, minutes=30), row=2),),
        },
    )
    report = event_report(inputs, now=end + timedelta(hours=1))
    done, rolled = report.moves
    assert done.energy_kwh == pytest.approx(100.0)
    assert done.priced_kwh == pytest.approx(50.0)
    assert done.saving == pytest.approx(50.0 * (1.2 - 0.4))
    assert (rolled.energy_kwh, rolled.saving, rolled.away_from) == (0.0, None, None)
    assert report.currency == "CNY"


def test_an_open_window_counts_to_the_report_time_and_an_import_cap_draws_the_load() -> None:
    """Without an end the window runs to now; for an import cap the curve is the load drawn,
    met at or under the cap, and the best sample is the lowest."""
    capped = event(kind="import_cap", target=150.0)
    samples = (sample(10, shed=0, load=640.0), sample(60, shed=500, load=140.0))
    now = T0 + timedelta(minutes=30)
    report = event_report(
        DrReportInputs(
            story=DrEventStory(event=capped, transitions=(), samples=samples),
            order_signals=(),
            moves=(move("Completed", 1800 - 900, 500.0, to_zone=None),),
            prices={},
        ),
        now=now,
    )
    assert [p.met for p in report.curve] == [False, True]
    assert report.peak_shed_kw == 140.0
    (m,) = report.moves
    assert m.energy_kwh == pytest.approx(500.0 * 0.25)
    assert (m.saving, report.saving, report.currency) == (None, None, None)
    drawn = scale(report, y0=0, now=now)
    assert drawn.end == now
    assert 'data-kw="140"' in svg([report], now=now)

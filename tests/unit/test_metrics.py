"""The metric definitions: bounded label sets, the API's vocabulary, helpers that count once."""

from __future__ import annotations

from typing import get_args

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from orchestrator import metrics
from orchestrator.api.gridzone import PriceFeed
from orchestrator.api.migration import PHASES, TERMINAL_PHASES, TRIGGERS

OURS = [
    c
    for c in metrics.REGISTRY._collector_to_names  # the registry's own index of collectors
    if getattr(c, "_name", "").startswith("gridshift_")
]
UNBOUNDED = {"uid", "name", "workload", "migration", "namespace", "pod", "signal", "id"}


def _value(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


# -- the vocabulary is the API's -------------------------------------------------------------


def test_outcomes_phases_and_triggers_are_the_apis() -> None:
    """The closed label sets equal the API's terminal phases, timed phases and triggers."""
    assert set(metrics.OUTCOMES) == set(TERMINAL_PHASES)
    assert set(metrics.PHASES) == set(PHASES) - set(TERMINAL_PHASES)
    assert metrics.TRIGGERS == TRIGGERS


def test_every_feed_type_is_a_signal_source() -> None:
    """Each PriceFeed type, lower-cased, is a source; so are both webhook endpoints and OpenADR
    MQTT notifications."""
    feed_types = get_args(PriceFeed.model_fields["type"].annotation)
    assert feed_types, "PriceFeed.type is a closed set"
    others = {"native", "openadr", "openadrmqtt"}
    assert {t.lower() for t in feed_types} | others == set(metrics.SIGNAL_SOURCES)


# -- definitions -----------------------------------------------------------------------------


def test_every_metric_is_documented_and_labelled_only_by_closed_sets() -> None:
    """Help text on each metric; no label that grows with objects moved (uids, names)."""
    assert len(OURS) >= 15
    for collector in OURS:
        assert len(collector._documentation) > 20, collector._name
        assert not UNBOUNDED & set(collector._labelnames), collector._name


def test_the_duration_histogram_reaches_past_the_deadline() -> None:
    """Buckets are fine around 180 s and go well beyond it, so late moves are told apart."""
    assert 180 in metrics.DURATION_BUCKETS
    assert max(metrics.DURATION_BUCKETS) >= 600
    assert sum(1 for b in metrics.DURATION_BUCKETS if 120 <= b <= 240) >= 4


def test_the_exposition_names_every_metric_of_the_issue() -> None:
    """One scrape shows migrations, phases, misses, signals, zones, DR, planner, ledger, leader."""
    metrics.zone_observed("unit-zone", price_per_kwh=0.9, peak_level=2, stale=False)
    metrics.dr_shed("unit-event", shed_kw=10.0, target_kw=20.0)
    names = {f.name for f in text_string_to_metric_families(metrics.exposition()[0].decode())}
    for wanted in (
        "gridshift_migrations",
        "gridshift_migration_duration_seconds",
        "gridshift_migration_phase_duration_seconds",
        "gridshift_migration_deadline_misses",
        "gridshift_signals",
        "gridshift_zone_price_per_kwh",
        "gridshift_zone_peak_level",
        "gridshift_dr_shed_kw",
        "gridshift_planner_duration_seconds",
        "gridshift_planner_moves_planned",
        "gridshift_ledger_write_lag_seconds",
        "gridshift_leader",
        "process_resident_memory_bytes",
    ):
        assert wanted in names, wanted
    metrics.dr_event_ended("unit-event")


def test_known_series_exist_at_zero_before_anything_happens() -> None:
    """Every outcome x trigger and source x result series is exported from the start."""
    assert (
        metrics.REGISTRY.get_sample_value(
            "gridshift_migrations_total", {"outcome": "Failed", "trigger": "GreenRatio"}
        )
        is not None
    )
    assert (
        metrics.REGISTRY.get_sample_value(
            "gridshift_signals_total", {"source": "entsoe", "result": "too_large"}
        )
        is not None
    )


# -- helpers ---------------------------------------------------------------------------------


def test_an_ended_move_is_counted_once_with_its_duration() -> None:
    """Outcome and trigger counted; duration observed under the outcome; no miss when in time."""
    before = _value("gridshift_migrations_total", outcome="Completed", trigger="DemandResponse")
    seconds = _value("gridshift_migration_duration_seconds_sum", outcome="Completed")
    misses = _value("gridshift_migration_deadline_misses_total", trigger="DemandResponse")
    metrics.migration_ended(
        outcome="Completed", trigger="DemandResponse", duration_seconds=42.5, deadline_missed=False
    )
    assert (
        _value("gridshift_migrations_total", outcome="Completed", trigger="DemandResponse")
        == before + 1
    )
    assert _value("gridshift_migration_duration_seconds_sum", outcome="Completed") == pytest.approx(
        seconds + 42.5
    )
    assert _value("gridshift_migration_deadline_misses_total", trigger="DemandResponse") == misses


def test_a_late_move_counts_a_deadline_miss() -> None:
    """A move that missed its deadline lands in the 210 s bucket, not the 180 s one."""
    misses = _value("gridshift_migration_deadline_misses_total", trigger="PeakLevel")
    le180 = _value("gridshift_migration_duration_seconds_bucket", outcome="Completed", le="180.0")
    le210 = _value("gridshift_migration_duration_seconds_bucket", outcome="Completed", le="210.0")
    metrics.migration_ended(
        outcome="Completed", trigger="PeakLevel", duration_seconds=200.0, deadline_missed=True
    )
    assert _value("gridshift_migration_deadline_misses_total", trigger="PeakLevel") == misses + 1
    assert (
        _value("gridshift_migration_duration_seconds_bucket", outcome="Completed", le="180.0")
        == le180
    )
    assert (
        _value("gridshift_migration_duration_seconds_bucket", outcome="Completed", le="210.0")
        == le210 + 1
    )


def test_phase_durations_skip_terminal_phases_and_clamp_skew() -> None:
    """A terminal phase has no duration; a negative one (clock skew) counts as zero."""
    count = _value("gridshift_migration_phase_duration_seconds_count", phase="WarmingUp")
    total = _value("gridshift_migration_phase_duration_seconds_sum", phase="WarmingUp")
    metrics.phase_ended("WarmingUp", -3.0)
    metrics.phase_ended("Completed", 5.0)
    assert (
        _value("gridshift_migration_phase_duration_seconds_count", phase="WarmingUp") == count + 1
    )
    assert _value("gridshift_migration_phase_duration_seconds_sum", phase="WarmingUp") == total
    assert (
        metrics.REGISTRY.get_sample_value(
            "gridshift_migration_phase_duration_seconds_count", {"phase": "Completed"}
        )
        is None
    )


@settings(max_examples=60, deadline=None)
@given(
    outcome=st.text(max_size=12),
    trigger=st.text(max_size=12),
    phase=st.text(max_size=12),
    source=st.text(max_size=12),
)
def test_strange_label_values_never_create_series(
    outcome: str, trigger: str, phase: str, source: str
) -> None:
    """Whatever callers pass, values outside the closed sets fold into `other`."""
    metrics.migration_ended(
        outcome=outcome, trigger=trigger, duration_seconds=1.0, deadline_missed=True
    )
    metrics.phase_ended(phase, 1.0)
    metrics.signals_counted(source, "accepted")
    bound = (len(metrics.OUTCOMES) + 1) * (len(metrics.TRIGGERS) + 1)
    assert len(metrics.MIGRATIONS._metrics) <= bound
    assert len(metrics.DEADLINE_MISSES._metrics) <= len(metrics.TRIGGERS) + 1
    assert len(metrics.PHASE_SECONDS._metrics) <= len(metrics.PHASES) + 1
    sources = len(metrics.SIGNAL_SOURCES) + 1
    assert len(metrics.SIGNALS._metrics) <= sources * len(metrics.SIGNAL_RESULTS)


def test_signals_count_signals_and_never_zero_or_negative_increments() -> None:
    """A batch of 3 accepted counts 3; a count of 0 is no increment (and no error)."""
    before = _value("gridshift_signals_total", source="native", result="accepted")
    metrics.signals_counted("native", "accepted", 3)
    metrics.signals_counted("native", "accepted", 0)
    assert _value("gridshift_signals_total", source="native", result="accepted") == before + 3


def test_a_zone_without_a_price_loses_its_price_series() -> None:
    """Price and peak gauges follow the zone status; no price now removes the price series."""
    metrics.zone_observed("unit-east", price_per_kwh=1.25, peak_level=3, stale=True)
    assert _value("gridshift_zone_price_per_kwh", zone="unit-east") == 1.25
    assert _value("gridshift_zone_peak_level", zone="unit-east") == 3
    assert _value("gridshift_zone_stale", zone="unit-east") == 1
    metrics.zone_observed("unit-east", price_per_kwh=None, peak_level=0, stale=False)
    assert (
        metrics.REGISTRY.get_sample_value("gridshift_zone_price_per_kwh", {"zone": "unit-east"})
        is None
    )
    assert _value("gridshift_zone_peak_level", zone="unit-east") == 0


def test_an_ended_dr_event_drops_its_series() -> None:
    """kW shed per event is kept only while the event is in force."""
    metrics.dr_shed("sh-evening", shed_kw=4000.0, target_kw=8000.0)
    assert _value("gridshift_dr_shed_kw", event="sh-evening") == 4000.0
    assert _value("gridshift_dr_target_kw", event="sh-evening") == 8000.0
    metrics.dr_event_ended("sh-evening")
    metrics.dr_event_ended("sh-evening")  # twice is harmless
    assert (
        metrics.REGISTRY.get_sample_value("gridshift_dr_shed_kw", {"event": "sh-evening"}) is None
    )


def test_ledger_lag_is_observed_by_record_kind() -> None:
    """The final row's lag is told apart from the writes made while moving."""
    count = _value("gridshift_ledger_write_lag_seconds_count", record="outcome")
    metrics.ledger_written("outcome", 12.0)
    assert _value("gridshift_ledger_write_lag_seconds_count", record="outcome") == count + 1


def test_leadership_is_a_zero_or_one_gauge() -> None:
    """set_leader flips gridshift_leader between 1 and 0."""
    metrics.set_leader(True)
    assert _value("gridshift_leader") == 1
    metrics.set_leader(False)
    assert _value("gridshift_leader") == 0

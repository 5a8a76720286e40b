"""What the CLI feeds its views: hub objects as rows, --since, and the native signal it sends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import typer

from orchestrator.cli_fleet import parse_since, split_workload
from orchestrator.cli_signal import native_payload
from orchestrator.overview import rows_from_objects
from orchestrator.signals.native import DrOrderEntry, PeakLevelEntry, PriceEntry, SignalBatch

NOW = datetime(2026, 7, 15, 10, 0, tzinfo=UTC)


def obj(
    name: str, spec: dict[str, object], status: dict[str, object], ns: str = ""
) -> dict[str, object]:
    meta = {"name": name, **({"namespace": ns} if ns else {})}
    return {"metadata": meta, "spec": spec, "status": status}


def test_hub_objects_become_rows_sorted_and_only_moves_in_flight() -> None:
    """Statuses map onto rows; ended migrations are not in flight; rows sort by name."""
    found = rows_from_objects(
        zones=[
            obj(
                "sh",
                {"currency": "CNY"},
                {
                    "pricePerKWh": 1.2,
                    "priceCurrency": "CNY",
                    "priceUnit": "CNY/kWh",
                    "peakLevel": 3,
                    "touPeriod": "CriticalPeak",
                    "stale": False,
                    "activeEvents": ["dre-1"],
                    "lastSignalTime": "2026-07-15T09:59:00Z",
                },
            ),
            obj("hb", {}, {}),
        ],
        clusters=[
            obj(
                "sh",
                {"zone": "sh", "cordoned": True},
                {
                    "freeGPUs": 3,
                    "allocatableGPUs": 64,
                    "conditions": [
                        {
                            "type": "Reachable",
                            "status": "False",
                            "reason": "Unreachable",
                            "message": "",
                            "lastTransitionTime": "2026-07-15T09:00:00Z",
                        }
                    ],
                },
            ),
            obj("hb", {"zone": "hb"}, {}),
        ],
        workloads=[
            obj(
                "chat",
                {"template": {"replicas": 2}, "placement": {"homeCluster": "sh"}},
                {"currentCluster": "hb", "readyReplicas": 1, "powerKW": 5.6},
                ns="inf",
            )
        ],
        migrations=[
            obj(
                "m-done",
                {"workload": "chat", "fromCluster": "sh", "toCluster": "hb"},
                {"phase": "Completed"},
                ns="inf",
            ),
            obj(
                "m-now",
                {
                    "workload": "chat",
                    "fromCluster": "hb",
                    "toCluster": "sh",
                    "deadlineSeconds": 300,
                },
                {"phase": "WarmingUp", "startTime": "2026-07-15T09:59:30Z", "trafficPercent": 10},
                ns="inf",
            ),
        ],
        now=NOW,
    )
    assert [z.name for z in found.zones] == ["hb", "sh"]
    hb, sh = found.zones
    assert (sh.price_per_kwh, sh.unit, sh.peak_level, sh.tou_period, sh.stale) == (
        1.2,
        "CNY/kWh",
        3,
        "CriticalPeak",
        False,
    )
    assert sh.active_events == ("dre-1",)
    assert sh.last_signal_time == NOW - timedelta(minutes=1)
    assert hb.stale is True  # a zone never signalled is Stale
    assert [(c.name, c.reachable, c.free_gpus, c.cordoned) for c in found.clusters] == [
        ("hb", None, 0, False),
        ("sh", False, 3, True),
    ]
    (chat,) = found.workloads
    assert (
        chat.current_cluster,
        chat.home_cluster,
        chat.ready_replicas,
        chat.desired_replicas,
    ) == ("hb", "sh", 1, 2)
    assert [(m.name, m.deadline_seconds, m.traffic_percent) for m in found.moves] == [
        ("m-now", 300, 10)
    ]


def test_since_takes_durations_and_times_with_an_offset() -> None:
    """30m, 6h, 7d, 2w count back from now; an RFC 3339 time is taken as given."""
    assert parse_since("30m", now=NOW) == NOW - timedelta(minutes=30)
    assert parse_since("6h", now=NOW) == NOW - timedelta(hours=6)
    assert parse_since("2w", now=NOW) == NOW - timedelta(days=14)
    assert parse_since("2026-07-15T12:00:00+08:00", now=NOW) == datetime(2026, 7, 15, 4, tzinfo=UTC)


@pytest.mark.parametrize("bad", ["1x", "h", "-1h", "yesterday", "2026-07-15T12:00:00"])
def test_since_refuses_anything_else(bad: str) -> None:
    """A unit it does not know, a negative span or a time without offset is a usage error."""
    with pytest.raises(typer.BadParameter, match="neither a duration"):
        parse_since(bad, now=NOW)


@pytest.mark.parametrize("bad", ["chat", "/chat", "inf/", "a/b/c"])
def test_workloads_are_namespace_slash_name(bad: str) -> None:
    """A workload is NAMESPACE/NAME, nothing else."""
    with pytest.raises(typer.BadParameter, match="NAMESPACE/NAME"):
        split_workload(bad, hint="--workload")


def test_the_signal_sent_is_what_the_webhook_schema_takes() -> None:
    """Price, peak level and DR order bodies each validate as a native SignalBatch."""
    end = NOW + timedelta(hours=1)
    price = native_payload(zone="CN-SH", ident="p", start=NOW, end=None, price=95.5, unit="MWh")
    level = native_payload(zone="sh", ident="l", start=NOW, end=end, peak_level=3)
    order = native_payload(
        zone="sh", ident="d", start=NOW, end=end, dr_shed_kw=800, response_deadline_seconds=120
    )
    kinds = [SignalBatch.model_validate(b).signals[0] for b in (price, level, order)]
    assert isinstance(kinds[0], PriceEntry)
    assert (kinds[0].value, kinds[0].unit) == (95.5, "MWh")
    assert isinstance(kinds[1], PeakLevelEntry)
    assert kinds[1].level == 3
    assert isinstance(kinds[2], DrOrderEntry)
    assert (kinds[2].shed_kw, kinds[2].response_deadline_seconds, kinds[2].end) == (800, 120, end)


def test_the_signal_needs_exactly_one_kind_and_a_dr_order_needs_an_end() -> None:
    """No kind, two kinds, or a DR order without an end are usage errors."""
    with pytest.raises(typer.BadParameter, match="exactly one"):
        native_payload(zone="sh", ident="x", start=NOW, end=None)
    with pytest.raises(typer.BadParameter, match="exactly one"):
        native_payload(zone="sh", ident="x", start=NOW, end=None, price=1, peak_level=1)
    with pytest.raises(typer.BadParameter, match="--end"):
        native_payload(zone="sh", ident="x", start=NOW, end=None, dr_shed_kw=5)

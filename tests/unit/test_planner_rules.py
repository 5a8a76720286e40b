"""Each rule on a three-province fleet: peak and price moves, guards, return home, pre-emption."""

from __future__ import annotations

from dataclasses import replace

import pytest

from orchestrator.api.common import LabelSelector
from orchestrator.planner import (
    DEFAULT_MIGRATION_SECONDS,
    Cluster,
    ForecastSlot,
    InFlight,
    LevelChange,
    PeakWindow,
    Plan,
    Policy,
    RecentMove,
    Snapshot,
    Workload,
    Zone,
    learned_seconds,
    plan,
    policy_for,
)
from tests.unit.test_planner_fleets import HOUR, MINUTE, NOW, policy, workload

CALM = (Zone("hubei", 0.5, 0), Zone("ningxia", 0.3, 0), Zone("shanghai", 0.6, 0))


def fleet(
    *workloads: Workload,
    zones: tuple[Zone, ...] = CALM,
    policies: tuple[Policy, ...] = (policy(),),
    **fields: object,
) -> Snapshot:
    return Snapshot(
        zones=zones,
        clusters=(
            Cluster("hb", "hubei", True, 32),
            Cluster("nx", "ningxia", True, 32),
            Cluster("sh", "shanghai", True, 32),
        ),
        workloads=workloads,
        policies=policies,
        **fields,  # type: ignore[arg-type]
    )


def zone(name: str, **changes: object) -> tuple[Zone, ...]:
    """The calm zones with one of them changed."""
    return tuple(replace(z, **changes) if z.name == name else z for z in CALM)  # type: ignore[arg-type]


def moves(result: Plan) -> list[tuple[str, str, str]]:
    return [(i.workload, i.to_cluster, i.trigger) for i in result.intents]


def reason(result: Plan, name: str) -> str:
    return next(d.reason for d in result.decisions if d.workload == name)


# -- peak and price --------------------------------------------------------------------------------


def test_a_peaking_zone_sends_its_workload_to_the_best_calm_cluster() -> None:
    """Shanghai at level 2 and dear: the workload goes to Ningxia, the cheapest calm zone."""
    peaking = zone("shanghai", peak_level=2, price_per_kwh=1.2)
    result = plan(fleet(workload("chat", "sh"), zones=peaking), NOW)
    assert moves(result) == [("chat", "nx", "PeakLevel")]
    assert reason(result, "chat").startswith("moved to nx: zone shanghai is peaking (level 2)")
    assert "saves" in reason(result, "chat")
    assert "costs" in reason(result, "chat")


def test_a_move_must_save_more_than_it_costs() -> None:
    """Saving 0.9 per kWh for the 15 min dwell is 22.5 on 100 kW: a cost of 20 moves, 25 holds."""
    peaking = zone("shanghai", peak_level=2, price_per_kwh=1.2)
    cheap = policy(guards={"moveCostPerKW": 0.2})
    dear = policy(guards={"moveCostPerKW": 0.25})
    assert moves(plan(fleet(workload("a", "sh"), zones=peaking, policies=(cheap,)), NOW))
    held = plan(fleet(workload("a", "sh"), zones=peaking, policies=(dear,)), NOW)
    assert held.intents == ()
    assert "not more than the move's cost of 25.00" in reason(held, "a")


def test_the_expected_stay_runs_to_the_end_of_the_peak_window() -> None:
    """A peak known to last 2 h prices the move over 2 h, so a dearer move pays off."""
    window = PeakWindow(NOW - MINUTE, NOW + 2 * HOUR, 2)
    peaking = zone("shanghai", peak_level=2, price_per_kwh=1.2, next_peak=window)
    dear = policy(guards={"moveCostPerKW": 1.0})
    result = plan(fleet(workload("a", "sh"), zones=peaking, policies=(dear,)), NOW)
    assert moves(result) == [("a", "nx", "PeakLevel")]
    assert "over 2.0 h" in reason(result, "a")


def test_a_lasting_price_spread_moves_and_a_passing_one_does_not() -> None:
    """Ningxia 0.5 cheaper for 2 h moves; cheaper for only 30 min of the hour asked does not."""
    spread = policy(triggers={"priceSpread": {"enabled": True, "minSpreadPerKWh": 0.3}})
    dear = zone("shanghai", price_per_kwh=0.8)
    lasting = plan(fleet(workload("a", "sh"), zones=dear, policies=(spread,)), NOW)
    assert moves(lasting) == [("a", "nx", "PriceSpread")]
    short = tuple(
        replace(z, forecast=(ForecastSlot(NOW + 30 * MINUTE, NOW + 2 * HOUR, 0.8),))
        if z.name == "ningxia"
        else z
        for z in dear
    )
    assert plan(fleet(workload("a", "sh"), zones=short, policies=(spread,)), NOW).intents == ()


def test_a_stale_zone_moves_nothing_on_old_news() -> None:
    """A peak reported by signals past their TTL holds the workload."""
    stale = zone("shanghai", peak_level=3, stale=True)
    result = plan(fleet(workload("a", "sh"), zones=stale), NOW)
    assert result.intents == ()
    assert "stale" in reason(result, "a")


# -- guards ------------------------------------------------------------------------------------------

PEAKING = zone("shanghai", peak_level=2, price_per_kwh=1.2)


def test_dwell_holds_a_fresh_arrival_and_wakes_the_planner_when_it_ends() -> None:
    """Arrived 5 min ago with a 15 min dwell: held, and wake_at names the end of the dwell."""
    fresh = workload("a", "sh", placed_at=NOW - 5 * MINUTE)
    result = plan(fleet(fresh, zones=PEAKING), NOW)
    assert result.intents == ()
    assert "minimum dwell" in reason(result, "a")
    assert NOW + 10 * MINUTE in result.wake_at
    assert moves(plan(fleet(fresh, zones=PEAKING), NOW + 10 * MINUTE)) == [("a", "nx", "PeakLevel")]


def test_cooldown_after_a_failed_move() -> None:
    """A move that failed 1 min ago is not retried until the 5 min cooldown ends."""
    failed = workload("a", "sh", last_failed_at=NOW - MINUTE)
    result = plan(fleet(failed, zones=PEAKING), NOW)
    assert result.intents == ()
    assert "cooldown" in reason(result, "a")
    assert NOW + 4 * MINUTE in result.wake_at


def test_max_concurrent_counts_in_flight_moves_and_this_plan() -> None:
    """With 1 move in flight and maxConcurrent 2, one of two peaking workloads moves."""
    limited = policy(guards={"maxConcurrent": 2, "maxMovesPerHour": 20})
    in_flight = InFlight("m", "ai", "x", "sh", "hb", "WarmingUp", NOW - MINUTE, 10.0, 0, "default")
    snapshot = fleet(
        workload("a", "sh"),
        workload("b", "sh"),
        zones=PEAKING,
        policies=(limited,),
        in_flight=(in_flight,),
    )
    result = plan(snapshot, NOW)
    assert [i.workload for i in result.intents] == ["a"]
    assert "maxConcurrent is 2" in reason(result, "b")


def test_max_moves_per_hour_counts_the_last_hour_only() -> None:
    """Three moves 10 min ago fill a limit of 3; moves 61 min ago do not count."""
    hourly = policy(guards={"maxConcurrent": 1, "maxMovesPerHour": 3})

    def past(minutes: int) -> tuple[RecentMove, ...]:
        at = NOW - minutes * MINUTE
        return tuple(
            RecentMove("ai", f"old{k}", "default", at, "sh", "nx", "Completed") for k in range(3)
        )

    full = fleet(workload("a", "sh"), zones=PEAKING, policies=(hourly,), recent_moves=past(10))
    result = plan(full, NOW)
    assert result.intents == ()
    assert "maxMovesPerHour is 3" in reason(result, "a")
    assert NOW + 50 * MINUTE in result.wake_at
    old = replace(full, recent_moves=past(61))
    assert moves(plan(old, NOW)) == [("a", "nx", "PeakLevel")]


def test_a_dry_run_plans_and_flags_but_books_after_live_moves() -> None:
    """The dry-run workload gets a flagged intent; the live one still gets the only GPUs."""
    snapshot = fleet(
        workload("a-dry", "sh", policy="dry", kw=400.0),
        workload("b-live", "sh", kw=100.0),
        zones=PEAKING,
        policies=(policy(), policy("dry", dryRun=True)),
    )
    snapshot = replace(
        snapshot,
        clusters=(
            Cluster("hb", "hubei", True, 0),
            Cluster("nx", "ningxia", True, 4),
            Cluster("sh", "shanghai", True, 32),
        ),
    )
    result = plan(snapshot, NOW)
    assert [(i.workload, i.to_cluster, i.dry_run) for i in result.intents] == [
        ("b-live", "nx", False)
    ]
    roomy = replace(
        snapshot,
        clusters=(*snapshot.clusters[:1], Cluster("nx", "ningxia", True, 8), snapshot.clusters[2]),
    )
    assert [(i.workload, i.dry_run) for i in plan(roomy, NOW).intents] == [
        ("a-dry", True),
        ("b-live", False),
    ]


def test_unmanaged_pinned_and_moving_workloads_are_held_with_a_reason() -> None:
    """No policy, movable false and a migration under way each hold, saying so."""
    moving = InFlight("m", "ai", "c", "sh", "hb", "WarmingUp", NOW - MINUTE, 10.0, 4, "default")
    snapshot = fleet(
        workload("a", "sh", policy=None),
        workload("b", "sh", movable=False),
        workload("c", "sh"),
        zones=PEAKING,
        in_flight=(moving,),
    )
    result = plan(snapshot, NOW)
    assert result.intents == ()
    assert "no MigrationPolicy" in reason(result, "a")
    assert "pinned" in reason(result, "b")
    assert "migration ai/m is moving it from sh to hb" in reason(result, "c")


# -- return home --------------------------------------------------------------------------------


def test_return_home_waits_for_the_hysteresis() -> None:
    """Home calm for 10 of 15 min: held, woken at 15; once calm long enough it goes home."""
    calmed = (LevelChange(NOW - HOUR, 2), LevelChange(NOW - 10 * MINUTE, 0))
    zones = zone("shanghai", level_history=calmed)
    away = workload("a", "nx", home="sh")
    early = plan(fleet(away, zones=zones), NOW)
    assert early.intents == ()
    assert "hysteresis" in reason(early, "a")
    assert NOW + 5 * MINUTE in early.wake_at
    later = plan(fleet(away, zones=zones), NOW + 5 * MINUTE)
    assert moves(later) == [("a", "sh", "ReturnHome")]
    assert later.decisions[0].action == "return_home"


def test_return_home_holds_while_home_hovers_at_the_threshold() -> None:
    """Home at level 1 with belowPeakLevel 1 is not calm: no return, however long."""
    result = plan(fleet(workload("a", "nx", home="sh"), zones=zone("shanghai", peak_level=1)), NOW)
    assert result.intents == ()
    assert "returns below level 1" in reason(result, "a")


# -- pre-emption --------------------------------------------------------------------------------


def test_a_known_peak_is_left_one_learned_migration_time_ahead() -> None:
    """A peak at 11:00 and a 120 s workload: wake at 10:57:30, move then as Preemptive."""
    window = PeakWindow(NOW + HOUR, NOW + 3 * HOUR, 2)
    zones = zone("shanghai", next_peak=window, price_per_kwh=0.9)
    snapshot = fleet(workload("a", "sh", migration_seconds=120.0), zones=zones)
    start = window.start - 150 * (MINUTE / 60)
    early = plan(snapshot, NOW)
    assert early.intents == ()
    assert start in early.wake_at
    due = plan(snapshot, start)
    assert moves(due) == [("a", "nx", "Preemptive")]
    assert plan(snapshot, start - MINUTE).intents == ()


def test_a_dear_window_ahead_is_left_even_when_prices_are_equal_now() -> None:
    """Equal prices now, Shanghai doubles in the peak ahead: the move is judged on the window."""
    window = PeakWindow(NOW + HOUR, NOW + 2 * HOUR, 2)
    flat = tuple(replace(z, price_per_kwh=0.8) for z in CALM)
    dear = ForecastSlot(window.start, window.end, 1.6, 2)
    zones = tuple(
        replace(z, next_peak=window, forecast=(dear,)) if z.name == "shanghai" else z for z in flat
    )
    led = policy(preemptionLeadSeconds=600)
    due = plan(fleet(workload("a", "sh"), zones=zones, policies=(led,)), NOW + 50 * MINUTE)
    assert [(w, t) for w, _, t in moves(due)] == [("a", "Preemptive")]
    assert "saves" in due.intents[0].message


def test_a_policy_lead_time_overrides_the_learned_one() -> None:
    """preemptionLeadSeconds 600 starts the move 10 min before the window."""
    window = PeakWindow(NOW + HOUR, NOW + 3 * HOUR, 2)
    zones = zone("shanghai", next_peak=window, price_per_kwh=0.9)
    led = policy(preemptionLeadSeconds=600)
    snapshot = fleet(workload("a", "sh"), zones=zones, policies=(led,))
    assert NOW + 50 * MINUTE in plan(snapshot, NOW).wake_at
    assert moves(plan(snapshot, NOW + 50 * MINUTE)) == [("a", "nx", "Preemptive")]


def test_a_target_about_to_peak_is_not_chosen() -> None:
    """Ningxia peaks within the lead time: the pre-emptive move goes to Hubei instead."""
    soon = PeakWindow(NOW + MINUTE, NOW + HOUR, 2)
    peaking = tuple(replace(z, next_peak=soon) if z.name == "ningxia" else z for z in PEAKING)
    result = plan(fleet(workload("a", "sh"), zones=peaking), NOW)
    assert moves(result) == [("a", "hb", "PeakLevel")]
    nx = next(c for c in result.decisions[0].candidates if c.cluster == "nx")
    assert not nx.eligible
    assert "peaks at" in nx.why_not


# -- helpers -----------------------------------------------------------------------------------------


def test_policy_for_picks_the_highest_priority_match_then_the_first_name() -> None:
    """Selectors with matchLabels and every operator; ties go to the first name."""
    gpu = LabelSelector.model_validate(
        {
            "matchLabels": {"tier": "serving"},
            "matchExpressions": [
                {"key": "model", "operator": "In", "values": ["qwen", "glm"]},
                {"key": "legacy", "operator": "DoesNotExist"},
            ],
        }
    )
    policies = (
        Policy("b-wide", policy(priority=100).spec),
        Policy("a-wide", policy(priority=100).spec),
        Policy("serving", policy(priority=500, workloadSelector=gpu.wire()).spec),
        Policy(
            "prod-only",
            policy(
                priority=900,
                namespaceSelector={
                    "matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["dev"]}]
                },
                workloadSelector={"matchExpressions": [{"key": "model", "operator": "Exists"}]},
            ).spec,
        ),
    )
    labels = {"tier": "serving", "model": "qwen"}
    assert policy_for(labels, {"env": "dev"}, policies) == "serving"
    assert policy_for(labels, {"env": "prod"}, policies) == "prod-only"
    assert policy_for(labels, {}, policies) == "prod-only"  # NotIn matches a missing key
    assert policy_for({**labels, "legacy": "1"}, {"env": "dev"}, policies) == "a-wide"
    assert policy_for({}, {}, policies[2:3]) is None


@pytest.mark.parametrize(
    ("durations", "expected"),
    [
        ((), DEFAULT_MIGRATION_SECONDS),
        ((42.0,), 42.0),
        (tuple(float(s) for s in range(1, 101)), 95.0),
        ((30.0, float("nan"), -1.0, 60.0), 60.0),
    ],
)
def test_learned_seconds_is_the_p95_of_completed_moves(
    durations: tuple[float, ...], expected: float
) -> None:
    """Nearest-rank p95; no usable history gives the default."""
    assert learned_seconds(durations) == expected


# -- green power ----------------------------------------------------------------------------------


GREEN = policy(triggers={"peakLevel": {"enabled": False}, "greenRatio": {"enabled": True}})


def greener(shanghai: float, ningxia: float) -> tuple[Zone, ...]:
    flat = tuple(replace(z, price_per_kwh=0.5) for z in CALM)
    shares = {"shanghai": shanghai, "ningxia": ningxia}
    return tuple(replace(z, green_ratio=shares.get(z.name)) for z in flat)


def test_a_much_greener_zone_draws_the_workload_without_pricing_it() -> None:
    """Equal prices, Ningxia 90 % green against 20 %: the move is made, not priced."""
    result = plan(fleet(workload("a", "sh"), zones=greener(0.2, 0.9), policies=(GREEN,)), NOW)
    assert moves(result) == [("a", "nx", "GreenRatio")]
    assert "90% green power" in result.intents[0].message


def test_a_small_green_improvement_or_a_disabled_trigger_moves_nothing() -> None:
    """Below minImprovement (0.2 by default), or with the trigger off, the workload stays."""
    small = plan(fleet(workload("a", "sh"), zones=greener(0.6, 0.7), policies=(GREEN,)), NOW)
    assert small.intents == ()
    off = plan(fleet(workload("a", "sh"), zones=greener(0.2, 0.9)), NOW)
    assert off.intents == ()


def test_a_green_move_does_not_go_home_to_come_back() -> None:
    """Away for green power, home calm: returning would be undone at once, so it stays."""
    away = workload("a", "nx", home="sh", placed_at=NOW - 2 * HOUR)
    result = plan(fleet(away, zones=greener(0.2, 0.9), policies=(GREEN,)), NOW)
    assert result.intents == ()
    assert "leave home again" in reason(result, "a")


def test_a_workload_in_an_unreachable_cluster_is_held() -> None:
    """Shanghai's API server is dark and Shanghai peaks: nothing is moved out blind."""
    dark = replace(
        fleet(workload("a", "sh"), zones=zone("shanghai", peak_level=3, price_per_kwh=2.0))
    )
    dark = replace(
        dark, clusters=tuple(replace(c, reachable=c.name != "sh") for c in dark.clusters)
    )
    result = plan(dark, NOW)
    assert result.intents == ()
    assert "unreachable" in reason(result, "a")

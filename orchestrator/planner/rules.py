"""One workload at a time: peak, pre-emption, price spread and return home, within the guards.

A workload away from its home zone first checks whether it may return (rule 4): going home is
the answer to any trigger when home is calm and would keep it. A workload in a stale zone is
otherwise held: old signals never move anything. Then triggers are tried in this order, and
the first that applies decides:

1. **PeakLevel** — its zone is at the policy's ``atOrAbove`` level or higher;
2. **Preemptive** — its zone has a known window at that level ahead (next peak, forecast slot)
   and ``now`` is within the lead time of it (``preemptionLeadSeconds``, or the workload's
   learned migration time plus ``PREEMPTION_MARGIN_SECONDS``); earlier, the start of the lead
   goes into ``wake_at``;
3. **PriceSpread** — the best candidate is cheaper by ``minSpreadPerKWh`` now and, per the
   forecast (the current price where it is silent), for ``minDurationSeconds``;
4. **GreenRatio** — the best candidate's zone runs on a green-power share at least
   ``minImprovement`` higher than here (both shares known);
5. **ReturnHome** — it runs outside its home cluster's zone (another cluster of the home zone
   counts as home: the grid sees zones) and its home zone has been below the policy's level
   for ``hysteresisSeconds``, is fresh, under no event, its home cluster can take it, and no
   trigger would move it away again from there.

A move for 1 to 4 goes to the best-scoring eligible cluster, which must beat staying by
``SCORE_MARGIN`` (a pre-emptive move is judged on the window ahead instead); for 1 to 3, with
``savingMustExceedCost``, the saving over the expected stay must exceed ``moveCostPerKW`` times
kW. A green move is the operator's explicit choice of cleaner power and is not priced. The
expected stay is until the peak or spread ends (from the window and forecast), and never less
than ``minDwellSeconds`` (and for a spread ``minDurationSeconds``).
Returning home is the policy's standing order and is not priced. Every move then passes the
cooldown, dwell, concurrency and hourly guards.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from orchestrator.api.migration import Trigger
from orchestrator.planner.draft import Draft, duration, kw
from orchestrator.planner.guards import cooldown, dwell, gate, limits
from orchestrator.planner.model import Candidate, Policy, Workload, Zone
from orchestrator.planner.scoring import SCORE_MARGIN, Profile, hhmm
from orchestrator.planner.timing import (
    calm_since,
    forecast_horizon,
    saving_per_kw,
    spread_lasts_until,
    upcoming_window,
    window_end,
)


@dataclass(frozen=True)
class Prompt:
    """A trigger that applies: why, and over which stay a move would be priced."""

    trigger: Trigger
    zone: Zone
    why: str
    stay_seconds: float


def _stay(policy: Policy, end: datetime | None, now: datetime, floor: float = 0.0) -> float:
    dwell_secs = float(policy.spec.guards.min_dwell_seconds)
    if end is None:
        return max(dwell_secs, floor)
    return max(dwell_secs, floor, (end - now).total_seconds())


def _peak(draft: Draft, workload: Workload, policy: Policy, zone: Zone) -> Prompt | None:
    now = draft.view.now
    trigger = policy.spec.triggers.peak_level
    if not trigger.enabled:
        return None
    if zone.peak_level >= trigger.at_or_above:
        end = window_end(zone, trigger.at_or_above, now)
        until = f" until {hhmm(end)}" if end is not None else ""
        return Prompt(
            trigger="PeakLevel",
            zone=zone,
            why=f"zone {zone.name} is peaking (level {zone.peak_level}){until}",
            stay_seconds=_stay(policy, end, now),
        )
    window = upcoming_window(zone, trigger.at_or_above, now)
    if window is None:
        return None
    lead = draft.profile(workload, policy).lead_seconds
    starts = window - timedelta(seconds=lead)
    if now < starts:
        draft.wake_at(starts)
        return None
    end = window_end(zone, trigger.at_or_above, window)
    floor = (window - now).total_seconds()
    return Prompt(
        trigger="Preemptive",
        zone=zone,
        why=(f"zone {zone.name} peaks at {hhmm(window)} and the move takes up to {duration(lead)}"),
        stay_seconds=_stay(policy, end, now, floor),
    )


def _spread(draft: Draft, policy: Policy, here: Zone, best: Candidate | None) -> Prompt | None:
    trigger = policy.spec.triggers.price_spread
    if not trigger.enabled or best is None:
        return None
    view = draft.view
    there = view.zones[view.clusters[best.cluster].zone]
    now = view.now
    lasting = now + timedelta(seconds=trigger.min_duration_seconds)
    spread = trigger.min_spread_per_kwh
    held = spread_lasts_until(source=here, target=there, min_spread=spread, now=now, until=lasting)
    if held is None or held < lasting:
        return None
    horizon = max(lasting, forecast_horizon((here, there), now))
    end = spread_lasts_until(source=here, target=there, min_spread=spread, now=now, until=horizon)
    end = lasting if end is None else end
    return Prompt(
        trigger="PriceSpread",
        zone=here,
        why=f"zone {there.name} is cheaper than {here.name} by {spread:.2f} or more per kWh"
        + (f" until {hhmm(end)}" if end > lasting else ""),
        stay_seconds=_stay(policy, end, now, float(trigger.min_duration_seconds)),
    )


def _green(draft: Draft, policy: Policy, here: Zone, best: Candidate | None) -> Prompt | None:
    trigger = policy.spec.triggers.green_ratio
    if not trigger.enabled or best is None:
        return None
    view = draft.view
    there = view.zones[view.clusters[best.cluster].zone]
    if here.green_ratio is None or there.green_ratio is None:
        return None
    if there.green_ratio - here.green_ratio < trigger.min_improvement:
        return None
    return Prompt(
        trigger="GreenRatio",
        zone=here,
        why=(
            f"zone {there.name} runs on {there.green_ratio:.0%} green power against "
            f"{here.green_ratio:.0%} in {here.name}"
        ),
        stay_seconds=_stay(policy, None, view.now),
    )


def _economics(
    draft: Draft, workload: Workload, policy: Policy, prompt: Prompt, best: Candidate
) -> tuple[float, float]:
    """(expected saving, cost) of moving to ``best`` for ``prompt``, in the zones' currency."""
    view = draft.view
    there = view.zones[view.clusters[best.cluster].zone]
    end = view.now + timedelta(seconds=prompt.stay_seconds)
    saving = workload.kw * saving_per_kw(prompt.zone, there, view.now, end)
    return saving, policy.spec.guards.move_cost_per_kw * workload.kw


def _would_leave(draft: Draft, workload: Workload, policy: Policy, profile: Profile) -> str | None:
    """Why a workload placed per ``profile`` would be moved again at once (None: it stays)."""
    view = draft.view
    zone = view.zones[view.zone_of(profile.current) or ""]
    if _peak(draft, workload, policy, zone) is not None:
        return f"zone {zone.name} is at or near its peak"
    _, best = draft.scorer.candidates(profile)
    if best is None or best.total - draft.scorer.current_total(profile) <= SCORE_MARGIN:
        return None
    green = _green(draft, policy, zone, best)
    if green is not None:
        return green.why
    prompt = _spread(draft, policy, zone, best)
    if prompt is None:
        return None
    saving, cost = _economics(draft, workload, policy, prompt, best)
    if policy.spec.guards.saving_must_exceed_cost and saving <= cost:
        return None
    return prompt.why


def _return_home(
    draft: Draft, workload: Workload, policy: Policy, candidates: tuple[Candidate, ...]
) -> tuple[Prompt | None, str]:
    """The ReturnHome prompt, or why the workload stays away."""
    view = draft.view
    rule = policy.spec.return_home
    home = view.zone_of(workload.home_cluster)
    if home is None or home not in view.zones:
        return None, f"its home cluster {workload.home_cluster} is unknown"
    zone = view.zones[home]
    if not rule.enabled:
        return None, f"it runs away from home ({workload.home_cluster}); returnHome is off"
    if zone.stale:
        return None, f"home zone {home} is stale"
    event = view.dr_zone.get(home)
    if event is not None:
        return None, f"home zone {home} is under demand-response event {event.name}"
    if zone.peak_level >= rule.below_peak_level:
        return None, (
            f"home zone {home} is at level {zone.peak_level}; it returns below level "
            f"{rule.below_peak_level}"
        )
    since = calm_since(zone, rule.below_peak_level, view.now)
    if since is not None:
        calm_until = since + timedelta(seconds=rule.hysteresis_seconds)
        if view.now < calm_until:
            draft.wake_at(calm_until)
            return None, (
                f"home zone {home} has been calm since {hhmm(since)}; hysteresis of "
                f"{duration(rule.hysteresis_seconds)} ends at {hhmm(calm_until)}"
            )
    target = next((c for c in candidates if c.cluster == workload.home_cluster), None)
    if target is None or not target.eligible:
        return None, "its home cluster cannot take it back: " + (
            target.why_not if target else "unknown"
        )
    at_home = draft.profile(workload, policy)._replace(current=workload.home_cluster)
    away = workload.current_cluster or ""
    booking = draft.booking
    booking.release(cluster=away, gpus=workload.gpus, policy=None)  # it frees them going home
    try:
        again = _would_leave(draft, workload, policy, at_home)
    finally:
        booking.take(cluster=away, gpus=workload.gpus, policy=None)
    if again is not None:
        return None, f"it would leave home again at once: {again}"
    return Prompt(
        trigger="ReturnHome", zone=zone, why=f"home zone {home} is calm", stay_seconds=0.0
    ), ""


def decide(draft: Draft, workload: Workload, *, live: bool) -> None:
    """Decide for one workload not yet decided (``live``: the pass for non-dry-run policies)."""
    view = draft.view
    policy = view.policies.get(workload.policy) if workload.policy is not None else None
    if policy is not None and policy.spec.dry_run == live:
        return  # the other pass decides it
    blocked = gate(draft, workload)
    profile = draft.profile(workload, policy)
    candidates, best = draft.scorer.candidates(profile)
    if blocked is not None or policy is None:
        if live or policy is not None:
            draft.hold(workload, blocked or "no policy", candidates=candidates)
        return
    here = view.zones[view.zone_of(workload.current_cluster) or ""]
    prompt: Prompt | None = None
    target = best
    stays = ""
    if here.name != view.zone_of(workload.home_cluster):
        prompt, stays = _return_home(draft, workload, policy, candidates)
        target = next((c for c in candidates if c.cluster == workload.home_cluster), None)
    if prompt is None and here.stale:
        draft.hold(
            workload,
            f"zone {here.name} is stale (signals older than their TTL): no move on old news",
            candidates=candidates,
            zone=here.name,
        )
        return
    if prompt is None:
        prompt = (
            _peak(draft, workload, policy, here)
            or _spread(draft, policy, here, best)
            or _green(draft, policy, here, best)
        )
        target = best
    if prompt is None:
        price = "unknown" if here.price_per_kwh is None else f"{here.price_per_kwh:.2f}"
        draft.hold(
            workload,
            stays
            or (
                f"nothing calls for a move (zone {here.name} at level {here.peak_level}, "
                f"price {price} per kWh)"
            ),
            candidates=candidates,
        )
        return
    _act(draft, workload, policy, prompt, target, candidates, profile)


def _act(
    draft: Draft,
    workload: Workload,
    policy: Policy,
    prompt: Prompt,
    target: Candidate | None,
    candidates: tuple[Candidate, ...],
    profile: Profile,
) -> None:
    def hold(reason: str) -> None:
        draft.hold(
            workload, reason, candidates=candidates, zone=prompt.zone.name, trigger=prompt.trigger
        )

    if target is None:
        reasons = [f"{c.cluster}: {c.why_not}" for c in candidates if not c.eligible][:3]
        hold(
            f"{prompt.why}, but no cluster can take it ({'; '.join(reasons) or 'no other cluster'})"
        )
        return
    priced = ""
    if prompt.trigger != "ReturnHome":
        gain = target.total - draft.scorer.current_total(profile)
        # scores describe now; a pre-emptive move is judged on the window ahead (economics)
        if prompt.trigger != "Preemptive" and gain <= SCORE_MARGIN:
            hold(
                f"{prompt.why}, but no cluster scores better than {workload.current_cluster} "
                f"(best {target.cluster}: {gain:+.3f})"
            )
            return
        saving, cost = _economics(draft, workload, policy, prompt, target)
        priced = (
            f"; saves {saving:.2f} over {duration(prompt.stay_seconds)}, the move costs {cost:.2f}"
        )
        unpriced = prompt.trigger == "GreenRatio"
        if policy.spec.guards.saving_must_exceed_cost and saving <= cost and not unpriced:
            hold(
                f"{prompt.why}, but moving {kw(workload.kw)} to {target.cluster} saves "
                f"{saving:.2f} over {duration(prompt.stay_seconds)}, not more than the move's "
                f"cost of {cost:.2f}"
            )
            return
    blocked = (
        cooldown(draft, workload, policy) or dwell(draft, workload, policy) or limits(draft, policy)
    )
    if blocked is not None:
        hold(f"{prompt.why} and it would move to {target.cluster}, but {blocked}")
        return
    verb = "returned home to" if prompt.trigger == "ReturnHome" else "moved to"
    draft.move(
        workload,
        policy,
        source=workload.current_cluster or "",
        to=target.cluster,
        trigger=prompt.trigger,
        reason=f"{verb} {target.cluster}: {prompt.why}{priced}",
        candidates=candidates,
        zone=prompt.zone.name,
        signal_id=prompt.zone.signal_id,
    )

"""Demand response: shed what a dispatch order asks for, largest flexible load first.

For an event in force (or one about to start, within a workload's lead time) the zone must
shed ``shed_kw``, or bring its load down to ``import_cap_kw``:

- already shed: kW of workloads that run outside the zone and either call it home or left it
  since the event started (or within ``PREEMPTION_HORIZON`` before), plus kW in flight out;
- a zone's load: kW of workloads running in it and not leaving, plus kW in flight into it.

Flexible load is every workload in the zone whose policy answers demand response, that is not
moving, pinned, or cooling down after a failed move. The largest goes first (ties: higher
policy priority, then workload priority, then name), each to its best-scoring eligible cluster,
GPUs booked as the plan grows. When that greedy order falls short, and the zone has at most
``EXACT_LIMIT`` flexible workloads, every subset is tried: the fewest moves that meet the
target, else the most kW the fleet can take. Larger zones keep the greedy answer.

A grid order overrides ``minDwellSeconds``, ``savingMustExceedCost``, ``maxConcurrent`` and
``maxMovesPerHour`` (its moves still count against the last two for later moves), never a
target's rules (stale, peaking, unreachable, cordoned, under an event), allowed zones, latency
SLOs or GPUs. The event is a signal of its own: a zone whose price and peak signals are stale
still sheds what the order asks. Workloads under a dry-run policy are planned after all live
ones, against what the live ones left missing, and never count as shed.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from datetime import timedelta

from orchestrator.planner.draft import Draft, kw, lead_seconds
from orchestrator.planner.guards import cooldown, gate
from orchestrator.planner.model import DemandResponse, EventOutlook, Policy, Workload
from orchestrator.planner.scoring import Profile, hhmm

EXACT_LIMIT = 10
"""Zones with up to this many flexible workloads get an exhaustive search when greedy fails."""
SEARCH_BUDGET = 20_000
"""Assignment steps the exhaustive search may take before it keeps the greedy answer."""
KW_EPSILON = 1e-9
PREEMPTION_HORIZON = timedelta(hours=2)
"""Moves out of the zone this long before an event's start count as shed for it (the longest
lead a policy may set), so moves made ahead of a window are not made twice."""


@dataclass(frozen=True)
class Flex:
    """A workload that can shed load for an event."""

    workload: Workload
    policy: Policy
    profile: Profile
    targets: tuple[str, ...]
    """Clusters it may go to ignoring GPUs, best score first."""

    @property
    def order(self) -> tuple[float, int, int, str]:
        w = self.workload
        return (-w.kw, -self.policy.spec.priority, -w.priority, w.key)


def accounting(draft: Draft, event: DemandResponse) -> tuple[float, float]:
    """(target_kw, shed_kw) for the event as the snapshot stands."""
    view = draft.view
    zone = event.zone
    out: dict[str, float] = {}
    loads: list[float] = []
    for move in view.snapshot.in_flight:
        key = f"{move.namespace}/{move.workload}"
        src, dst = view.zone_of(move.from_cluster), view.zone_of(move.to_cluster)
        if src == zone and dst != zone:
            out[key] = move.kw
        elif dst == zone and src != zone:
            loads.append(move.kw)
    left_since = {
        f"{m.namespace}/{m.workload}"
        for m in view.snapshot.recent_moves
        if m.started_at >= event.start - PREEMPTION_HORIZON
        and view.zone_of(m.from_cluster) == zone
        and view.zone_of(m.to_cluster) != zone
    }
    for workload in view.snapshot.workloads:
        key = workload.key
        if key in out or key in view.in_flight:
            continue
        here = view.zone_of(workload.current_cluster)
        if here == zone:
            loads.append(workload.kw)
        elif here is not None and (
            view.zone_of(workload.home_cluster) == zone or key in left_since
        ):
            out[key] = workload.kw
    shed = math.fsum(out.values())
    load = math.fsum(loads)
    if event.shed_kw is not None:
        return event.shed_kw, shed
    cap = event.import_cap_kw if event.import_cap_kw is not None else load
    return max(0.0, load + shed - cap), shed


def _flexible(draft: Draft, event: DemandResponse, *, live: bool) -> list[Flex]:
    view = draft.view
    found: list[Flex] = []
    for workload in view.snapshot.workloads:
        if workload.key in draft.decisions or view.zone_of(workload.current_cluster) != event.zone:
            continue
        if workload.policy is None or gate(draft, workload) is not None:
            continue
        policy = view.policies[workload.policy]
        if policy.spec.dry_run == live or not policy.spec.triggers.demand_response.enabled:
            continue
        if event.start > view.now:
            starts = event.start - timedelta(seconds=lead_seconds(workload, policy))
            if view.now < starts:
                draft.wake_at(starts)
                continue
        if cooldown(draft, workload, policy) is not None:
            continue
        profile = draft.profile(workload, policy)
        targets = draft.scorer.static_targets(profile)
        found.append(Flex(workload=workload, policy=policy, profile=profile, targets=targets))
    found.sort(key=lambda f: f.order)
    return found


Assignment = list[tuple[Flex, str]]


def _greedy(draft: Draft, flex: list[Flex], need: float) -> Assignment:
    """Largest first, each to its best eligible cluster, booked as it goes."""
    chosen: Assignment = []
    got = 0.0
    for item in flex:
        if got >= need - KW_EPSILON:
            break
        _, best = draft.scorer.candidates(item.profile)
        if best is None:
            continue
        draft.booking.take(cluster=best.cluster, gpus=item.workload.gpus, policy=item.policy.name)
        chosen.append((item, best.cluster))
        got += item.workload.kw
    return chosen


class _Search:
    """Exhaustive search over subsets of a small zone's flexible load, within a step budget."""

    def __init__(self, flex: list[Flex], gpus: dict[str, int]) -> None:
        self.flex = flex
        self.gpus = gpus
        self.steps = 0
        self.allowed = [frozenset(f.targets) for f in flex]

    def _place(self, todo: list[int], left: dict[str, int], done: list[str]) -> bool:
        if not todo:
            return True
        self.steps += 1
        if self.steps > SEARCH_BUDGET:
            return False
        index, rest = todo[0], todo[1:]
        need = self.flex[index].workload.gpus
        tried: set[tuple[int, tuple[bool, ...]]] = set()
        for cluster in self.flex[index].targets:
            room = left.get(cluster, 0)
            if room < need:
                continue
            shape = (room, tuple(cluster in self.allowed[j] for j in rest))
            if shape in tried:
                continue  # an equivalent cluster already failed for the rest
            tried.add(shape)
            left[cluster] = room - need
            done.append(cluster)
            if self._place(rest, left, done):
                return True
            done.pop()
            left[cluster] = room
        return False

    def assign(self, subset: tuple[int, ...]) -> Assignment | None:
        todo = sorted(subset, key=lambda i: (-self.flex[i].workload.gpus, i))
        done: list[str] = []
        if not self._place(todo, dict(self.gpus), done):
            return None
        placed = dict(zip(todo, done, strict=True))
        return [(self.flex[i], placed[i]) for i in sorted(subset)]

    def best(self, need: float) -> Assignment | None:
        """The fewest moves meeting ``need``, else the most kW; None if the budget ran out."""
        n = len(self.flex)
        subsets = [c for k in range(1, n + 1) for c in itertools.combinations(range(n), k)]
        total = {c: sum(self.flex[i].workload.kw for i in c) for c in subsets}
        meeting = sorted(
            (c for c in subsets if total[c] >= need - KW_EPSILON),
            key=lambda c: (len(c), total[c], c),
        )
        falling = sorted(
            (c for c in subsets if total[c] < need - KW_EPSILON),
            key=lambda c: (-total[c], len(c), c),
        )
        for subset in (*meeting, *falling):
            found = self.assign(subset)
            if self.steps > SEARCH_BUDGET:
                return None
            if found is not None:
                return found
        return []


def _settle(draft: Draft, chosen: Assignment) -> Assignment:
    """Move each chosen workload to its best cluster given everyone else's bookings."""
    settled = list(chosen)
    for _ in range(len(settled) + 2):
        changed = False
        for index, (item, cluster) in enumerate(settled):
            draft.booking.release(cluster=cluster, gpus=item.workload.gpus, policy=item.policy.name)
            _, best = draft.scorer.candidates(item.profile)
            target = cluster if best is None else best.cluster
            draft.booking.take(cluster=target, gpus=item.workload.gpus, policy=item.policy.name)
            if target != cluster:
                settled[index] = (item, target)
                changed = True
        if not changed:
            break
    return settled


def _kw(chosen: Assignment) -> float:
    return math.fsum(item.workload.kw for item, _ in chosen)


def _select(draft: Draft, flex: list[Flex], need: float) -> Assignment:
    chosen = _greedy(draft, flex, need)
    if _kw(chosen) >= need - KW_EPSILON or not flex or len(flex) > EXACT_LIMIT:
        return _settle(draft, chosen)
    for item, cluster in chosen:
        draft.booking.release(cluster=cluster, gpus=item.workload.gpus, policy=item.policy.name)
    better = _Search(flex, dict(draft.booking.gpus)).best(need)
    if better is not None and _kw(better) > _kw(chosen) + KW_EPSILON:
        chosen = better
    for item, cluster in chosen:
        draft.booking.take(cluster=cluster, gpus=item.workload.gpus, policy=item.policy.name)
    return _settle(draft, chosen)


def _why_none(draft: Draft, profile: Profile) -> str:
    candidates, _ = draft.scorer.candidates(profile)
    reasons = [f"{c.cluster}: {c.why_not}" for c in candidates if not c.eligible][:3]
    return "no cluster can take it (" + "; ".join(reasons) + ")" if reasons else "no other cluster"


def respond(
    draft: Draft, event: DemandResponse, *, live: bool, missing: float | None = None
) -> EventOutlook:
    """Plan the moves for one event; ``missing`` (dry-run pass) is what live moves left."""
    target, shed = accounting(draft, event)
    need = target - shed if missing is None else missing
    flex = _flexible(draft, event, live=live)
    chosen = _select(draft, flex, need) if need > KW_EPSILON else []
    planned = _kw(chosen)
    in_force = event.start <= draft.view.now
    goal = (
        f"shed {kw(target)}"
        if event.shed_kw is not None
        else f"stay under an import cap of {kw(event.import_cap_kw or 0.0)}"
    )
    when = "" if in_force else f" from {hhmm(event.start)}"
    for item, cluster in chosen:
        workload = item.workload
        draft.booking.release(cluster=cluster, gpus=workload.gpus, policy=item.policy.name)
        candidates, _ = draft.scorer.candidates(item.profile)
        draft.booking.take(cluster=cluster, gpus=workload.gpus, policy=item.policy.name)
        draft.move(
            workload,
            item.policy,
            source=workload.current_cluster or "",
            to=cluster,
            trigger="DemandResponse" if in_force else "Preemptive",
            reason=(
                f"moved to {cluster}: event {event.name} asks zone {event.zone} to {goal}{when}; "
                f"{kw(shed)} already out, this plan moves {kw(planned)}, largest flexible load "
                f"first ({kw(workload.kw)} here)"
            ),
            candidates=candidates,
            zone=event.zone,
            event=event.name,
            signal_id=event.signal_id,
            book=False,
        )
    short = max(0.0, need - planned)
    if short > KW_EPSILON:
        for item in flex:
            if item.workload.key not in draft.decisions:
                candidates, _ = draft.scorer.candidates(item.profile)
                draft.hold(
                    item.workload,
                    f"event {event.name} in zone {event.zone} still misses {kw(short)}, but "
                    + _why_none(draft, item.profile),
                    candidates=candidates,
                    zone=event.zone,
                    trigger="DemandResponse" if in_force else "Preemptive",
                )
    if missing is not None:
        return EventOutlook(
            name=event.name,
            zone=event.zone,
            target_kw=target,
            shed_kw=shed,
            planned_kw=0.0,
            missing_kw=missing,
        )
    return EventOutlook(
        name=event.name,
        zone=event.zone,
        target_kw=target,
        shed_kw=shed,
        planned_kw=planned,
        missing_kw=max(0.0, target - shed - planned),
    )

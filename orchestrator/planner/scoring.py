"""Every candidate cluster of a workload: its score by term, and whether it may be chosen.

Scores are points in the zones' currency per kWh (per kW for an hour), higher is better, so a
person can read them next to prices:

- ``energy_cost``: minus the candidate zone's price now (unknown: the dearest known price);
- ``peak``: ``-PEAK_WEIGHT`` per peak level of the candidate's zone;
- ``green``: ``GREEN_WEIGHT`` times the zone's green-power ratio (unknown: 0);
- ``latency``: ``-LATENCY_WEIGHT`` per millisecond to the workload's clients (unknown: 0);
- ``capacity``: up to ``CAPACITY_WEIGHT`` for GPU headroom left after the move.

The cluster a workload runs on is scored the same way (with full capacity points, since it
already fits), and a move for a price or peak must beat it by ``SCORE_MARGIN``. The margin is
larger than the capacity term can ever move, so bookings by other workloads never tip a
workload into moving back and forth.

Planning must stay near O(workloads x clusters) with a small constant, so reasons are kept per
zone, per (threshold, lead) and per (client zone, SLO), terms per (cluster, client zone), and a
row of candidates on every cluster per profile without its current cluster; a workload's list
is its row minus the cluster it runs on. A booking patches only the one cell it changed, and
one :class:`Candidate` object serves every decision that sees the same thing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from orchestrator.planner.model import TERMS, Candidate
from orchestrator.planner.timing import upcoming_window
from orchestrator.planner.view import Booking, View

PEAK_WEIGHT = 0.3
GREEN_WEIGHT = 0.1
LATENCY_WEIGHT = 0.001
CAPACITY_WEIGHT = 0.01
SCORE_MARGIN = 0.02
PEAKING_LEVEL = 2
"""A zone at this level or above is never a target."""


class Profile(NamedTuple):
    """What a workload's candidates depend on, besides the GPUs left on each cluster."""

    current: str | None
    gpus: int
    threshold: int
    """Level at which a zone counts as peaking for this workload (at most PEAKING_LEVEL)."""
    allowed: tuple[str, ...]
    client_zone: str | None
    slo_ms: int | None
    lead_seconds: float
    """How far ahead a target's coming peak or event rules it out."""


_StaticKey = tuple[
    int, tuple[str, ...], str | None, tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]
]


@dataclass
class _Row:
    """Candidates of one profile on every cluster, as of ``epoch`` bookings."""

    epoch: int
    cells: list[Candidate]
    listed: tuple[Candidate, ...]
    top: tuple[Candidate, ...]
    """The two best eligible (the best may be where the workload runs)."""


def hhmm(at: datetime) -> str:
    return at.strftime("%H:%M")


def _capacity(gpus: int, left: int) -> float:
    after = left - gpus
    if after < 0:
        return 0.0
    if gpus == 0:
        return CAPACITY_WEIGHT
    return round(CAPACITY_WEIGHT * after / (after + gpus), 6) + 0.0


class Scorer:
    """Candidates per workload profile from layered caches; same inputs, same objects."""

    def __init__(self, view: View, booking: Booking) -> None:
        self.view = view
        self.booking = booking
        known = [z.price_per_kwh for z in view.zones.values() if z.price_per_kwh is not None]
        self._dearest = max(known) if known else 0.0
        self._zone_of = {name: c.zone for name, c in view.clusters.items()}
        self._base: dict[int, dict[str, str]] = {}
        self._due: dict[tuple[int, float], tuple[tuple[str, str], ...]] = {}
        self._slo: dict[tuple[str | None, int | None], tuple[tuple[str, str], ...]] = {}
        self._terms: dict[tuple[str, str | None], tuple[float, ...]] = {}
        self._objects: dict[tuple[str, str | None, str, int, int], Candidate] = {}
        self._static: dict[_StaticKey, dict[str, str]] = {}
        self._rows: dict[tuple[_StaticKey, int], _Row] = {}
        self._index = {name: at for at, name in enumerate(view.cluster_names)}

    # -- reasons, by what they depend on ---------------------------------------------------------

    def latency(self, zone: str, client_zone: str | None) -> int | None:
        """Round trip from ``zone`` to clients in ``client_zone`` (within a zone: 0 if unlisted)."""
        if client_zone is None:
            return 0
        found = self.view.zones.get(zone)
        listed = None if found is None else found.latency_ms.get(client_zone)
        if listed is None and zone == client_zone:
            return 0
        return listed

    def _base_reasons(self, threshold: int) -> dict[str, str]:
        """Per cluster: unreachable, cordoned, or its zone unknown, stale, shedding, peaking."""
        found = self._base.get(threshold)
        if found is not None:
            return found
        view = self.view
        made: dict[str, str] = {}
        for name, cluster in view.clusters.items():
            zone = view.zones.get(cluster.zone)
            event = view.dr_zone.get(cluster.zone)
            if not cluster.reachable:
                made[name] = f"cluster {name} is unreachable"
            elif cluster.cordoned:
                made[name] = f"cluster {name} is cordoned"
            elif zone is None:
                made[name] = f"zone {cluster.zone} is unknown"
            elif zone.stale:
                made[name] = f"zone {zone.name} is stale (signals older than their TTL)"
            elif event is not None:
                made[name] = f"zone {zone.name} is under demand-response event {event.name}"
            elif zone.peak_level >= threshold:
                made[name] = f"zone {zone.name} is peaking (level {zone.peak_level})"
        self._base[threshold] = made
        return made

    def _due_reasons(self, threshold: int, lead: float) -> tuple[tuple[str, str], ...]:
        """Per zone: a peak or event starts before a move there could settle."""
        key = (threshold, lead)
        found = self._due.get(key)
        if found is not None:
            return found
        view = self.view
        horizon = view.now + timedelta(seconds=lead)
        made: dict[str, str] = {}
        for name, zone in view.zones.items():
            window = upcoming_window(zone, threshold, view.now)
            ahead = view.dr_ahead.get(name)
            if window is not None and window <= horizon:
                made[name] = f"zone {name} peaks at {hhmm(window)}, before a move there settles"
            elif ahead is not None and ahead.start <= horizon:
                made[name] = (
                    f"zone {name} has demand-response event {ahead.name} at {hhmm(ahead.start)}"
                )
        items = tuple(sorted(made.items()))
        self._due[key] = items
        return items

    def _slo_reasons(self, client_zone: str | None, slo: int | None) -> tuple[tuple[str, str], ...]:
        """Per zone: the latency SLO is broken or cannot be checked."""
        key = (client_zone, slo)
        found = self._slo.get(key)
        if found is not None:
            return found
        made: dict[str, str] = {}
        if slo is not None:
            for name in self.view.zones:
                rtt = self.latency(name, client_zone)
                if rtt is None:
                    made[name] = f"latency from zone {name} to clients in {client_zone} is unknown"
                elif rtt > slo:
                    made[name] = (
                        f"latency {rtt} ms to clients in {client_zone} exceeds the SLO of {slo} ms"
                    )
        items = tuple(sorted(made.items()))
        self._slo[key] = items
        return items

    def _static_key(self, profile: Profile) -> _StaticKey:
        """What the reasons of a profile depend on (a lead only through the zones it rules out)."""
        return (
            profile.threshold,
            profile.allowed,
            profile.client_zone,
            self._due_reasons(profile.threshold, profile.lead_seconds),
            self._slo_reasons(profile.client_zone, profile.slo_ms),
        )

    def _static_reasons(self, profile: Profile) -> dict[str, str]:
        """Per cluster: why it may not be chosen, GPUs aside ("" when it may)."""
        key = self._static_key(profile)
        found = self._static.get(key)
        if found is not None:
            return found
        base = self._base_reasons(profile.threshold)
        due = dict(key[3])
        slo = dict(key[4])
        made: dict[str, str] = {}
        for cluster, zone in self._zone_of.items():
            made[cluster] = (
                base.get(cluster)
                or (
                    f"zone {zone} is not among its allowed zones"
                    if profile.allowed and zone not in profile.allowed
                    else ""
                )
                or due.get(zone)
                or slo.get(zone)
                or ""
            )
        self._static[key] = made
        return made

    # -- terms -------------------------------------------------------------------------------------

    def _zone_terms(self, cluster: str, client_zone: str | None) -> tuple[float, ...]:
        """energy_cost, peak, green and latency of running in ``cluster``."""
        key = (cluster, client_zone)
        found = self._terms.get(key)
        if found is not None:
            return found
        zone_name = self._zone_of.get(cluster, "")
        zone = self.view.zones.get(zone_name)
        price = None if zone is None else zone.price_per_kwh
        energy = -(self._dearest if price is None else price)
        peak = -PEAK_WEIGHT * (zone.peak_level if zone is not None else PEAKING_LEVEL)
        ratio = None if zone is None else zone.green_ratio
        green = 0.0 if ratio is None else GREEN_WEIGHT * ratio
        rtt = self.latency(zone_name, client_zone)
        latency = 0.0 if rtt is None else -LATENCY_WEIGHT * rtt
        made = tuple(round(v, 6) + 0.0 for v in (energy, peak, green, latency))
        self._terms[key] = made
        return made

    def current_total(self, profile: Profile) -> float:
        """The score of staying where it runs (full capacity points: it already fits)."""
        if profile.current is None or profile.current not in self._zone_of:
            return -math.inf
        terms = self._zone_terms(profile.current, profile.client_zone)
        return round(math.fsum((*terms, CAPACITY_WEIGHT)), 6) + 0.0

    # -- candidates -------------------------------------------------------------------------------

    def _make(
        self,
        key: tuple[str, str | None, str, int, int],
        profile: Profile,
        cluster: str,
        why: str,
        left: int,
    ) -> Candidate:
        gpus = profile.gpus
        values = (*self._zone_terms(cluster, profile.client_zone), _capacity(gpus, left))
        made = Candidate(
            cluster=cluster,
            total=round(math.fsum(values), 6) + 0.0,
            terms=dict(zip(TERMS, values, strict=True)),
            eligible=not why,
            why_not=why,
        )
        self._objects[key] = made
        return made

    def _one(self, profile: Profile, name: str, why: str, room: int) -> Candidate:
        gpus = profile.gpus
        if not why and room < gpus:
            why = f"needs {gpus} GPUs, cluster {name} has {max(room, 0)} left"
        key = (name, profile.client_zone, why, gpus, room)
        found = self._objects.get(key)
        return found if found is not None else self._make(key, profile, name, why, room)

    def _row(self, profile: Profile) -> _Row:
        """Every cluster scored for a profile wherever it runs, patched as bookings change."""
        key = (self._static_key(profile), profile.gpus)
        row = self._rows.get(key)
        booking = self.booking
        if row is not None and row.epoch == booking.epoch:
            return row
        static = self._static_reasons(profile)
        left = booking.gpus
        if row is None:
            names = self.view.cluster_names
            cells = [self._one(profile, n, static[n], left.get(n, 0)) for n in names]
            row = _Row(epoch=booking.epoch, cells=cells, listed=(), top=())
            self._rows[key] = row
        else:
            for name in sorted(set(booking.changed[row.epoch :])):
                at = self._index[name]
                row.cells[at] = self._one(profile, name, static[name], left.get(name, 0))
            row.epoch = booking.epoch
        row.listed = tuple(row.cells)
        eligible = sorted((c for c in row.cells if c.eligible), key=lambda c: (-c.total, c.cluster))
        row.top = tuple(eligible[:2])
        return row

    def candidates(self, profile: Profile) -> tuple[tuple[Candidate, ...], Candidate | None]:
        """Every other cluster scored, in name order, and the best eligible one (ties: name)."""
        row = self._row(profile)
        at = self._index.get(profile.current or "")
        listed = row.listed if at is None else row.listed[:at] + row.listed[at + 1 :]
        best = next((c for c in row.top if c.cluster != profile.current), None)
        return listed, best

    def static_targets(self, profile: Profile) -> tuple[str, ...]:
        """Clusters eligible but for GPUs, best score (without capacity) first, then by name."""
        static = self._static_reasons(profile)
        usable = [
            (-math.fsum(self._zone_terms(name, profile.client_zone)), name)
            for name in self.view.cluster_names
            if name != profile.current and not static[name]
        ]
        return tuple(name for _, name in sorted(usable))

"""The demo's accelerated grid day, as pure values: clock, tariffs, payloads, savings.

A :class:`Scenario` fixes what the demo plays: the day whose tariffs it uses, which sample
workloads it loads (and how many replicas, how long their model takes to load), the dispatch
order (hour, kW to shed, window), and a :class:`SimClock` that runs the simulated day at a few
real seconds per hour, slower while the dispatch window is open, since the migrations and their
180 s deadline are real.

Prices and peak levels are the shipped provincial time-of-use tariffs
(:func:`orchestrator.signals.tou_data.dataset_schedule`) for the simulated hour; the demo posts
them as native JSON signals covering the real interval, and the dispatch order as an OpenADR 3
``DISPATCH_SETPOINT`` event: Shanghai's draw minus the kW to shed, as the most it may draw.

Why the dispatch comes at 14:00 and not at the evening peak: in every shipped tariff the evening
peak (18:00-21:00) is peak or critical-peak time in all three provinces at once, and gridshift
never moves load into a zone at peak level 2 or more. At 14:00 (the hour of the July 2025
Lingang dispatch) Shanghai is at peak while Hubei is flat and Ningxia in its solar valley.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from orchestrator.api.gridzone import TouPeriod
from orchestrator.signals.tou import PEAK_LEVEL, Schedule, period_at, zone_of
from orchestrator.signals.tou_data import dataset_schedule

ZONE_IDS: Mapping[str, str] = {"shanghai": "CN-SH", "hubei": "CN-HB", "ningxia": "CN-NX"}
"""The demo's provinces and their grid zone ids in the tariff dataset."""
HOME = "shanghai"
GRID_OPERATOR = "demo-grid"
"""The grid operator the demo posts as (its token is a key of the operators' Secret)."""
DISPATCH_TARGET = "CN-SH"
SIGNAL_HOLD_SECONDS = 600
"""How long a posted price or level stays in force unless a newer one replaces it."""


@dataclass(frozen=True)
class SimClock:
    """Simulated hours of one day against real seconds since the start, piecewise linear.

    ``segments`` are ``(from_hour, real_seconds_per_hour)``, from hour 0, in order.
    """

    segments: tuple[tuple[float, float], ...]
    end_hour: float = 24.0

    def __post_init__(self) -> None:
        hours = [h for h, _ in self.segments]
        if not hours or hours[0] != 0 or hours != sorted(hours) or len(set(hours)) != len(hours):
            raise ValueError("segments must start at hour 0 and increase")
        if any(rate <= 0 for _, rate in self.segments):
            raise ValueError("every segment needs a positive number of seconds per hour")

    def _starts(self) -> list[float]:
        """Real seconds at which each segment starts."""
        starts, real = [], 0.0
        for i, (hour, rate) in enumerate(self.segments):
            starts.append(real)
            upto = self.segments[i + 1][0] if i + 1 < len(self.segments) else self.end_hour
            real += (upto - hour) * rate
        return starts

    @property
    def real_seconds(self) -> float:
        """Real seconds the whole day takes."""
        return self.real_at(self.end_hour)

    def real_at(self, hour: float) -> float:
        """Real seconds after the start at which the simulated clock reads ``hour``."""
        starts = self._starts()
        index = max(0, bisect.bisect_right([h for h, _ in self.segments], hour) - 1)
        begin, rate = self.segments[index]
        return starts[index] + (min(hour, self.end_hour) - begin) * rate

    def hour_at(self, real: float) -> float:
        """The simulated hour ``real`` seconds after the start (held at the end of the day)."""
        starts = self._starts()
        index = max(0, bisect.bisect_right(starts, real) - 1)
        begin, rate = self.segments[index]
        return min(self.end_hour, begin + (real - starts[index]) / rate)


@dataclass(frozen=True)
class LiveWorkload:
    """The workload that serves for real (on the fleet's real nodes), with users' requests
    through the edge while the day plays. Each replica is one stand-in pod with one GPU of the
    real node; its declared draw is that of a server of its kind (the stand-in uses no GPU),
    sized so that the dispatch order, which sheds the largest flexible load first, moves it."""

    name: str
    replicas: int
    kw_per_replica: float


@dataclass(frozen=True)
class Scenario:
    """What one demo run plays."""

    name: str
    day: date
    clock: SimClock
    workloads: Mapping[str, int | None]
    """Sample workloads to load, each with its replicas (None: as the sample says)."""
    ready_after: str
    """Simulated model load time of every pod (the KWOK annotation's value)."""
    shed_kw: float
    dispatch_hour: float
    dispatch_hours: float
    """Length of the dispatch window in simulated hours."""
    gpu_nodes: Mapping[str, int]
    """Simulated 8-GPU nodes each province needs at least."""
    settle_seconds: float
    """How long to wait after the day for moves in flight and workloads returning home."""
    live: LiveWorkload | None = None

    @property
    def dispatch_window_seconds(self) -> float:
        """Real seconds the dispatch window lasts."""
        start = self.clock.real_at(self.dispatch_hour)
        return self.clock.real_at(self.dispatch_hour + self.dispatch_hours) - start


FULL = Scenario(
    name="full",
    day=date(2025, 7, 4),
    clock=SimClock(((0, 1.0), (6, 2.0), (14, 25.0), (16, 2.5))),
    workloads={
        "chat-72b": None,
        "code-assist-34b": None,
        "reasoning-70b": None,
        "vision-vl-32b": None,
        "translate-14b": None,
        "summarize-14b": None,
        "search-rerank": None,
        "voice-asr": None,
        "embed-bge": None,
        "moderation-7b": None,
        "ocr-docs": None,
        "risk-scoring": None,
    },
    ready_after="20s",
    shed_kw=500.0,
    dispatch_hour=14.0,
    dispatch_hours=2.0,
    gpu_nodes={"shanghai": 76, "hubei": 30, "ningxia": 30},
    settle_seconds=150.0,
    live=LiveWorkload("chat-live", replicas=5, kw_per_replica=10.2),
)
SHORT = Scenario(
    name="short",
    day=date(2025, 7, 4),
    clock=SimClock(((0, 0.25), (14, 8.0), (16, 0.5))),
    workloads={"chat-72b": 2, "translate-14b": 1, "embed-bge": 1, "risk-scoring": 1},
    ready_after="5s",
    shed_kw=25.0,
    dispatch_hour=14.0,
    dispatch_hours=2.0,
    gpu_nodes={"shanghai": 6, "hubei": 4, "ningxia": 4},
    settle_seconds=120.0,
    live=LiveWorkload("chat-live", replicas=2, kw_per_replica=5.0),
)


@dataclass(frozen=True)
class ZoneHour:
    """One province in one simulated hour, as the tariff has it."""

    zone: str
    period: TouPeriod
    level: int
    price: float


def tariffs(day: date) -> dict[str, Schedule]:
    """The shipped tariff of each demo province in force on ``day``."""
    return {zone: dataset_schedule(zid, on=day) for zone, zid in ZONE_IDS.items()}


def zone_hours(schedules: Mapping[str, Schedule], day: date, hour: int) -> list[ZoneHour]:
    """Period, peak level and price of every province in ``hour`` (0-23) of ``day``."""
    found = []
    for zone, schedule in sorted(schedules.items()):
        local = datetime.combine(day, time(hour, 30), tzinfo=zone_of(schedule.timezone))
        period = period_at(schedule, local)
        if period is None:
            raise ValueError(f"the tariff of {zone} has no season for {day}")
        price = schedule.prices.get(period)
        if price is None:
            raise ValueError(f"the tariff of {zone} prices no {period} period")
        found.append(ZoneHour(zone, period, PEAK_LEVEL[period], price))
    return found


def _rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def native_batch(
    run: str, hour: int, hours: Sequence[ZoneHour], *, now: datetime
) -> dict[str, Any]:
    """The ``POST /v1/signals`` body: price and peak level of each province from ``now`` on."""
    start, end = _rfc3339(now), _rfc3339(now + timedelta(seconds=SIGNAL_HOLD_SECONDS))
    signals: list[dict[str, Any]] = []
    for item in hours:
        ident = f"demo-{run}-{item.zone}-h{hour:02d}"
        common = {"zone": item.zone, "start": start, "end": end}
        signals.append(
            {"type": "price", "id": f"{ident}-price", "value": item.price, "currency": "CNY"}
            | common
        )
        signals.append({"type": "peakLevel", "id": f"{ident}-level", "level": item.level} | common)
    return {"signals": signals}


def dispatch_event(
    run: str, *, now: datetime, cap_kw: float, window_seconds: float, shed_kw: float
) -> dict[str, Any]:
    """An OpenADR 3.1 EVENT notification: Shanghai may draw at most ``cap_kw`` in the window."""
    stamp = _rfc3339(now)
    return {
        "objectType": "EVENT",
        "operation": "CREATE",
        "object": {
            "objectType": "EVENT",
            "id": f"demo-dispatch-{run}",
            "programID": "shanghai-vpp",
            "eventName": f"Shanghai dispatch: shed {shed_kw:.0f} kW within 180 s",
            "priority": 0,
            "createdDateTime": stamp,
            "modificationDateTime": stamp,
            "targets": [DISPATCH_TARGET],
            "payloadDescriptors": [
                {
                    "objectType": "EVENT_PAYLOAD_DESCRIPTOR",
                    "payloadType": "DISPATCH_SETPOINT",
                    "units": "KW",
                }
            ],
            "intervalPeriod": {"start": stamp, "duration": f"PT{max(1, round(window_seconds))}S"},
            "intervals": [
                {"id": 0, "payloads": [{"type": "DISPATCH_SETPOINT", "values": [round(cap_kw, 1)]}]}
            ],
        },
    }


def dispatch_cap(draw_kw: float, shed_kw: float) -> float:
    """The most Shanghai may draw to shed ``shed_kw`` from ``draw_kw`` (never below 1 kW)."""
    return max(1.0, draw_kw - shed_kw)


@dataclass
class SavingMeter:
    """kW away from home x (home price - price where it runs) x simulated hours, summed."""

    total: float = 0.0
    kwh_moved: float = 0.0
    by_workload: dict[str, float] = field(default_factory=dict)

    def add(
        self,
        *,
        placements: Mapping[str, tuple[str, str, float]],
        prices: Mapping[str, float],
        sim_hours: float,
    ) -> None:
        """Account ``sim_hours`` with ``placements`` (workload → home zone, zone now, kW)."""
        if sim_hours <= 0:
            return
        for key, (home, now, kw) in placements.items():
            if home == now or home not in prices or now not in prices:
                continue
            saved = kw * (prices[home] - prices[now]) * sim_hours
            self.total += saved
            self.kwh_moved += kw * sim_hours
            self.by_workload[key] = self.by_workload.get(key, 0.0) + saved

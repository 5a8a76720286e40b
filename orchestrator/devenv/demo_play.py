"""The demo's day as it plays: the grid operator's posts, the clock, what is shown and measured.

:class:`Webhook` is the grid operator's side of gridshift's webhook (bearer token, native JSON and
OpenADR 3). :class:`Player` runs a scenario's :class:`~demo_scenario.SimClock`: at every
simulated hour it posts the provinces' tariff prices and peak levels, at the dispatch hour the
OpenADR order; every second it reads the hub, accounts the saving and the kW shed, and shows the
moment (live view, or one line per change). After the day it waits for moves in flight and
workloads returning home, up to the scenario's ``settle_seconds``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from rich.console import Console

from orchestrator.devenv import hub
from orchestrator.devenv.demo_scenario import (
    HOME,
    SavingMeter,
    Scenario,
    ZoneHour,
    dispatch_cap,
    dispatch_event,
    native_batch,
    tariffs,
    zone_hours,
)
from orchestrator.devenv.demo_state import Dispatch, HubState, demo_moves, parse_state
from orchestrator.devenv.demo_state import dispatch_event as find_event
from orchestrator.devenv.demo_traffic import LiveTraffic
from orchestrator.devenv.demo_view import Moment, changes, clock_text, traffic_text
from orchestrator.devenv.fleet import Fleet
from orchestrator.errors import DevEnvError

STATE_KINDS = ",".join(
    f"{plural}.gridshift.io"
    for plural in (
        "gridzones",
        "memberclusters",
        "inferenceworkloads",
        "migrations",
        "demandresponseevents",
    )
)
TICK_SECONDS = 0.5
POLL_SECONDS = 1.0


def read_state(fleet: Fleet, hub_name: str) -> HubState:
    """The hub's gridshift objects now."""
    return parse_state(hub.get_json(fleet, hub_name, STATE_KINDS, "-A"))


class Webhook:
    """The grid operator's side: posts to gridshift's webhook with its bearer token."""

    def __init__(self, url: str, token: str) -> None:
        self.client = httpx.Client(
            base_url=url, timeout=15, headers={"Authorization": f"Bearer {token}"}
        )

    def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return self.client.post(path, json=body)

    def post_until_accepted(self, path: str, body: dict[str, Any], *, timeout: float) -> None:
        """Post until 200: the operator reads new tokens and zones on its refresh period."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            try:
                answer = self.post(path, body)
            except httpx.HTTPError as exc:
                last = str(exc)
            else:
                if answer.status_code == 200:
                    return
                last = f"{answer.status_code} {answer.text[:300]}"
                if answer.status_code not in (401, 422, 503):
                    break
            time.sleep(1)
        raise DevEnvError(f"the webhook did not accept the demo's signals: {last}")

    def post_or_fail(self, path: str, body: dict[str, Any]) -> None:
        try:
            answer = self.post(path, body)
        except httpx.HTTPError as exc:
            raise DevEnvError(f"the webhook did not answer {path}: {exc}") from exc
        if answer.status_code != 200:
            raise DevEnvError(f"the webhook refused {path}: {answer.status_code} {answer.text}")

    def close(self) -> None:
        self.client.close()


# -- the day ---------------------------------------------------------------------------------


@dataclass
class Player:
    """Plays one scenario against the fleet; shows it; measures the dispatch and the saving."""

    fleet: Fleet
    hub: str
    namespace: str
    scenario: Scenario
    webhook: Webhook
    console: Console
    run: str
    since: datetime
    show: Callable[[Moment, HubState], None] | None = None
    traffic: LiveTraffic | None = None

    def __post_init__(self) -> None:
        self.schedules = tariffs(self.scenario.day)
        self.saving = SavingMeter()
        self.state: HubState | None = None
        self.draw_before: float | None = None
        self.cap: float | None = None
        self.dispatched_at: float | None = None
        self.best_shed = 0.0
        self.met_after: float | None = None

    def hours(self, hour: float) -> list[ZoneHour]:
        return zone_hours(self.schedules, self.scenario.day, min(int(hour), 23))

    def post_hour(self, hour: int) -> None:
        body = native_batch(self.run, hour, self.hours(hour), now=datetime.now(UTC))
        self.webhook.post_or_fail("/v1/signals", body)
        if self.show is None:
            posted = ", ".join(
                f"{z.zone} {z.price:.4f} CNY/kWh level {z.level}" for z in self.hours(hour)
            )
            self.console.print(f"[{clock_text(hour)}] posted {posted}", markup=False)

    def dispatch(self, state: HubState, started: float) -> None:
        draw = state.draw_kw(HOME)
        self.draw_before, self.cap = draw, dispatch_cap(draw, self.scenario.shed_kw)
        body = dispatch_event(
            self.run,
            now=datetime.now(UTC),
            cap_kw=self.cap,
            window_seconds=self.scenario.dispatch_window_seconds,
            shed_kw=self.scenario.shed_kw,
        )
        self.webhook.post_or_fail("/openadr/callback", body)
        self.dispatched_at = started
        if self.show is None:
            self.console.print(
                f"[{clock_text(self.scenario.dispatch_hour)}] OpenADR dispatch posted: shed "
                f"{self.scenario.shed_kw:.0f} kW (Shanghai draws {draw:.1f} kW; setpoint "
                f"{self.cap:.1f} kW) within 180 s",
                markup=False,
            )

    def observe(self, *, sim_hour: float, sim_hours: float, real: float, stage: str) -> None:
        """Read the hub, account the saving and the shed, show the moment."""
        state = read_state(self.fleet, self.hub)
        mine = state.in_namespace(self.namespace)
        prices = {z.zone: z.price for z in self.hours(sim_hour)}
        self.saving.add(
            placements={w.key: (w.home, state.zone_of(w.cluster) or w.home, w.kw) for w in mine},
            prices=prices,
            sim_hours=sim_hours,
        )
        shed_now = None
        since_order = None
        if self.dispatched_at is not None and self.draw_before is not None:
            since_order = real - self.dispatched_at
            shed_now = max(0.0, self.draw_before - state.draw_kw(HOME))
            self.best_shed = max(self.best_shed, shed_now)
            if self.met_after is None and shed_now >= self.scenario.shed_kw:
                self.met_after = since_order
        moves = demo_moves(state, namespace=self.namespace, since=self.since)
        event = None
        if self.dispatched_at is not None:
            try:
                found = find_event(state.events, zone=HOME, since=self.since)
                event = f"DemandResponseEvent {found.name}: {found.state}"
            except LookupError:
                event = "DemandResponseEvent: not created yet"
        moment = Moment(
            now=datetime.now(UTC),
            sim_hour=sim_hour,
            real_seconds=real,
            stage=stage,
            posted=self.hours(sim_hour),
            shed_target_kw=self.scenario.shed_kw if self.dispatched_at is not None else None,
            shed_now_kw=shed_now,
            dispatch_seconds=since_order,
            event=event,
            saving=self.saving.total,
            traffic=None if self.traffic is None else self.traffic.counts(),
        )
        if self.show is not None:
            self.show(moment, state)
        else:
            lines = changes(self.state, state, moves, self.namespace)
            if lines and moment.traffic is not None:
                lines.append(traffic_text(moment.traffic))
            for line in lines:
                self.console.print(f"[{clock_text(sim_hour)}] {line}", markup=False)
        self.state = state

    def play(self) -> None:
        """The day, then the wait for moves in flight and workloads returning home."""
        clock = self.scenario.clock
        start = time.monotonic()
        posted, last_hour, last_poll = 0, 0.0, -POLL_SECONDS
        while True:
            real = time.monotonic() - start
            hour = clock.hour_at(real)
            while posted + 1 <= min(int(hour), 23):
                posted += 1
                self.post_hour(posted)
            if self.dispatched_at is None and hour >= self.scenario.dispatch_hour:
                self.dispatch(read_state(self.fleet, self.hub), real)
            if real - last_poll >= POLL_SECONDS or hour >= clock.end_hour:
                stage = "dispatch window" if self._in_window(hour) else "playing the day"
                self.observe(sim_hour=hour, sim_hours=hour - last_hour, real=real, stage=stage)
                last_hour, last_poll = hour, real
            if hour >= clock.end_hour:
                break
            time.sleep(TICK_SECONDS)
        settle_until = time.monotonic() + self.scenario.settle_seconds
        while time.monotonic() < settle_until and not self._settled():
            time.sleep(POLL_SECONDS)
            self.observe(
                sim_hour=clock.end_hour,
                sim_hours=0.0,
                real=time.monotonic() - start,
                stage="day over: waiting for moves in flight and returns home",
            )

    def _in_window(self, hour: float) -> bool:
        s = self.scenario
        return s.dispatch_hour <= hour < s.dispatch_hour + s.dispatch_hours

    def _settled(self) -> bool:
        if self.state is None:
            return False
        moves = demo_moves(self.state, namespace=self.namespace, since=self.since)
        home = all(
            w.cluster == w.home and w.ready >= w.desired
            for w in self.state.in_namespace(self.namespace)
        )
        return home and all(m.ended and m.recorded for m in moves)

    def dispatch_figures(self) -> Dispatch | None:
        if self.draw_before is None or self.cap is None or self.state is None:
            return None
        try:
            event = find_event(self.state.events, zone=HOME, since=self.since)
        except LookupError:
            event = None
        return Dispatch(
            target_kw=self.scenario.shed_kw,
            draw_before_kw=self.draw_before,
            cap_kw=self.cap,
            best_shed_kw=self.best_shed,
            met_after_seconds=self.met_after,
            event=event,
        )

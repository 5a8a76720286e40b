"""Keep every DemandResponseEvent's status true: kW shed, response start, Met or Missed.

After each plan the loop calls :meth:`DemandResponses.update`; it writes an event's status only
when it changed, posts a Kubernetes Event when the state changes, and hands Met and Missed
outcomes of OpenADR events to ``report`` (the VTN report), once per outcome.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from orchestrator import metrics
from orchestrator.api.drevent import DemandResponseEventSpec, DemandResponseEventStatus
from orchestrator.api.migration import MigrationSpec
from orchestrator.clusters.hub import HubClient
from orchestrator.clusters.kube import KubeError
from orchestrator.controller.drstatus import MoveForEvent, account, changed
from orchestrator.controller.snapshot import HubObjects
from orchestrator.planner.model import Snapshot
from orchestrator.signals.service import SignalService

log = logging.getLogger(__name__)

Report = Callable[[dict[str, Any], DemandResponseEventStatus, float], Awaitable[None]]
"""Tell the grid operator how an event went (the event object, its new status, and the load
still drawn in its zone, kW)."""


def _moves_by_event(
    objects: HubObjects, extra: list[dict[str, Any]]
) -> dict[str, list[MoveForEvent]]:
    found: dict[str, list[MoveForEvent]] = {}
    seen: set[str] = set()
    for obj in [*objects.migrations, *extra]:
        meta = obj.get("metadata") or {}
        key = f"{meta.get('namespace')}/{meta.get('name')}"
        if key in seen:
            continue
        seen.add(key)
        try:
            spec = MigrationSpec.model_validate(obj.get("spec") or {})
        except ValidationError:
            continue
        event = spec.reason.demand_response_event
        if event is None:
            continue
        started = (obj.get("status") or {}).get("startTime") or meta.get("creationTimestamp")
        if not started:
            continue
        at = datetime.fromisoformat(str(started).replace("Z", "+00:00"))
        found.setdefault(event, []).append(MoveForEvent(name=key, started_at=at))
    return found


class DemandResponses:
    """Writes DemandResponseEvents' status from what the fleet did."""

    def __init__(self, hub: HubClient, report: Report | None = None) -> None:
        self.hub = hub
        self.report = report
        self._reported: set[tuple[str, str]] = set()

    async def update(
        self,
        objects: HubObjects,
        snapshot: Snapshot,
        now: datetime,
        *,
        created: list[dict[str, Any]],
    ) -> None:
        zones = {c.name: c.zone for c in snapshot.clusters}
        moves = _moves_by_event(objects, created)
        for obj in objects.events:
            name = obj["metadata"]["name"]
            try:
                spec = DemandResponseEventSpec.model_validate(obj.get("spec") or {})
                old = DemandResponseEventStatus.model_validate(obj.get("status") or {})
            except ValidationError as exc:
                log.warning("demandresponseevent=%s not accounted: invalid: %s", name, exc)
                continue
            in_flight_kw = sum(m.kw for m in snapshot.in_flight if m.demand_response_event == name)
            new = account(
                spec=spec,
                status=old,
                workloads=snapshot.workloads,
                cluster_zones=zones,
                moves=moves.get(name, []),
                in_flight_kw=round(in_flight_kw, 3),
                now=now,
            )
            if spec.window.end is not None and now >= spec.window.end:
                metrics.dr_event_ended(name)
            elif now >= spec.window.start:
                metrics.dr_shed(name, shed_kw=new.achieved_kw, target_kw=spec.shed_kw)
            if not changed(old, new):
                continue
            try:
                await asyncio.to_thread(
                    self.hub.patch_status, "demandresponseevents", name, new.wire()
                )
            except KubeError as exc:
                log.warning("demandresponseevent=%s status not written: %s", name, exc)
                continue
            if new.state != old.state:
                log.info(
                    "demandresponseevent=%s went %s: %.1f kW shed, %.1f kW missing",
                    name,
                    new.state,
                    new.achieved_kw,
                    new.missing_kw,
                )
                await asyncio.to_thread(
                    self.hub.event,
                    obj,
                    reason=f"Response{new.state}",
                    message=new.message,
                    warning=new.state == "Missed",
                )
            if (
                new.state in ("Met", "Missed")
                and spec.source.kind == "OpenADR"
                and self.report is not None
                and (name, new.state) not in self._reported
            ):
                self._reported.add((name, new.state))
                try:
                    load = sum(
                        w.kw
                        for w in snapshot.workloads
                        if w.current_cluster is not None
                        and zones.get(w.current_cluster) == spec.zone
                    )
                    await self.report(obj, new, round(load, 3))
                except Exception as exc:  # a report is best effort; the status is the record
                    log.warning("demandresponseevent=%s report to the VTN failed: %s", name, exc)


def vtn_report(service: SignalService) -> Report:
    """Report an OpenADR event's outcome to the VTN it came from, through the signals service."""

    async def report(
        obj: dict[str, Any], status: DemandResponseEventStatus, zone_load_kw: float
    ) -> None:
        spec = DemandResponseEventSpec.model_validate(obj.get("spec") or {})
        if spec.source.event_id is None:
            return
        sent = await service.report_dr_outcome(
            zone=spec.zone,
            event_id=spec.source.event_id,
            program=spec.source.program,
            state=status.state,
            achieved_kw=status.achieved_kw,
            zone_load_kw=zone_load_kw,
            window_start=spec.window.start,
            window_end=spec.window.end,
        )
        log.info(
            "demandresponseevent=%s outcome %s %s the VTN",
            obj["metadata"]["name"],
            status.state,
            "reported to" if sent else "not reported (no VTN for the zone) to",
        )

    return report

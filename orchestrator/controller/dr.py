"""Keep every DemandResponseEvent's status true: kW shed, response start, Met or Missed.

After each plan the loop calls :meth:`DemandResponses.update`; it writes an event's status only
when it changed, posts a Kubernetes Event when the state changes, records how the event stands in
the ledger (its state, outcome and a point of its shed curve; best effort: the status is the
record while the ledger is away), and hands Met and Missed outcomes of OpenADR events to
``report`` (the VTN report), once per outcome. A report the VTN refuses (4xx) is never sent
again: the refusal is the ``Reported`` condition (False, ``ReportRefused``) of the event, a
Warning Event and the ledger's ``report_state`` ``Refused``; other failures are retried every
minute.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from orchestrator import metrics
from orchestrator.api import conditions as cond
from orchestrator.api.common import Condition
from orchestrator.api.conditions import set_condition
from orchestrator.api.drevent import DemandResponseEventSpec, DemandResponseEventStatus
from orchestrator.api.migration import MigrationSpec
from orchestrator.clusters.hub import HubClient
from orchestrator.clusters.kube import KubeError
from orchestrator.controller.drstatus import MoveForEvent, account, changed, zone_load_kw
from orchestrator.controller.snapshot import HubObjects
from orchestrator.errors import LedgerError
from orchestrator.ledger.handle import Ledger
from orchestrator.ledger.records import DrObservation
from orchestrator.planner.model import Snapshot
from orchestrator.signals.openadr_client import VtnRefusedError
from orchestrator.signals.service import SignalService

log = logging.getLogger(__name__)

Report = Callable[[dict[str, Any], DemandResponseEventStatus, float], Awaitable[bool]]
"""Tell the grid operator how an event went (the event object, its new status, and the load
still drawn in its zone, kW); False when the zone has no VTN to tell."""

REPORT_RETRY = timedelta(seconds=60)
"""How long after a failed report the next attempt waits."""


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

    def __init__(self, hub: HubClient, ledger: Ledger, report: Report | None = None) -> None:
        self.hub = hub
        self.ledger = ledger
        self.report = report
        self._tried: dict[str, datetime] = {}
        self._final: set[str] = set()
        """Events whose ledger row is Ended or Cancelled: nothing more to record."""
        self._no_vtn: set[str] = set()

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
            await self._observe(name, spec, new, snapshot, zones, in_flight_kw, now)
            if changed(old, new) and not await self._write(name, new):
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
            await self._report(obj, spec, new, snapshot, zones, now)

    async def _observe(
        self,
        name: str,
        spec: DemandResponseEventSpec,
        status: DemandResponseEventStatus,
        snapshot: Snapshot,
        zones: dict[str, str],
        in_flight_kw: float,
        now: datetime,
    ) -> None:
        """Record in the ledger how the event stands (a failure is logged: the next round
        records it again)."""
        if name in self._final:
            return
        observation = DrObservation(
            k8s_name=name,
            zone=spec.zone,
            kind="shed" if spec.shed_kw is not None else "import_cap",
            target_kw=spec.shed_kw if spec.shed_kw is not None else spec.import_cap_kw or 0.0,
            window_start=spec.window.start,
            window_end=spec.window.end,
            response_deadline_seconds=spec.response_deadline_seconds,
            state=status.state,
            shed_kw=status.achieved_kw,
            in_flight_kw=round(in_flight_kw, 3),
            zone_load_kw=zone_load_kw(snapshot.workloads, zones, spec.zone),
            missing_kw=status.missing_kw,
            responded_at=status.responded_at,
            met_at=status.met_at,
            message=status.message,
        )
        try:
            row = await asyncio.to_thread(self.ledger.observe_dr_event, observation, at=now)
        except LedgerError as exc:
            log.warning("demandresponseevent=%s not recorded in the ledger: %s", name, exc)
            return
        if row.state in ("Ended", "Cancelled"):
            self._final.add(name)

    async def _write(self, name: str, status: DemandResponseEventStatus) -> bool:
        try:
            await asyncio.to_thread(
                self.hub.patch_status, "demandresponseevents", name, status.wire()
            )
        except KubeError as exc:
            log.warning("demandresponseevent=%s status not written: %s", name, exc)
            return False
        return True

    async def _report(
        self,
        obj: dict[str, Any],
        spec: DemandResponseEventSpec,
        status: DemandResponseEventStatus,
        snapshot: Snapshot,
        zones: dict[str, str],
        now: datetime,
    ) -> None:
        """Report a final outcome of an OpenADR event to the VTN, once: ``reportedAt`` in the
        status records it (so a new leader does not report again); a failure is retried."""
        name = obj["metadata"]["name"]
        if (
            self.report is None
            or spec.source.kind != "OpenADR"
            or status.state not in ("Met", "Missed")
            or status.reported_at is not None
            or any(c.type == cond.REPORTED for c in status.conditions)
            or name in self._no_vtn
        ):
            return
        tried = self._tried.get(name)
        if tried is not None and now - tried < REPORT_RETRY:
            return
        self._tried[name] = now
        load = zone_load_kw(snapshot.workloads, zones, spec.zone)
        try:
            sent = await self.report(obj, status, load)
        except VtnRefusedError as exc:
            await self._refused(obj, status, exc, now)
            return
        except Exception as exc:  # a report is best effort; the status is the record
            log.warning(
                "demandresponseevent=%s report to the VTN failed (retried in %.0f s): %s",
                name,
                REPORT_RETRY.total_seconds(),
                exc,
            )
            return
        if not sent:
            self._no_vtn.add(name)
            return
        await self._ledger_report(name, "Sent", "accepted by the VTN", now)
        conditions = set_condition(
            status.conditions,
            kind=cond.REPORTED,
            status="True",
            reason=cond.REPORT_SENT,
            message="The outcome was reported to the grid operator's VTN.",
            now=now,
        )
        await self._patch(name, {"reportedAt": now.isoformat()}, conditions)

    async def _refused(
        self,
        obj: dict[str, Any],
        status: DemandResponseEventStatus,
        exc: VtnRefusedError,
        now: datetime,
    ) -> None:
        """The VTN refused the report: say so on the event and in the ledger, never resend."""
        name = obj["metadata"]["name"]
        self._no_vtn.add(name)
        message = (
            f"The grid operator's VTN refused the outcome's report (HTTP {exc.status}); it is "
            f"not sent again. Ask the VTN's operator whether this event is theirs. {exc}"
        )
        log.warning("demandresponseevent=%s report refused by the VTN: %s", name, exc)
        await self._ledger_report(name, "Refused", str(exc), now)
        conditions = set_condition(
            status.conditions,
            kind=cond.REPORTED,
            status="False",
            reason=cond.REPORT_REFUSED,
            message=message,
            now=now,
        )
        await self._patch(name, {}, conditions)
        await asyncio.to_thread(
            self.hub.event, obj, reason=cond.REPORT_REFUSED, message=message[:1024], warning=True
        )

    async def _ledger_report(self, name: str, state: str, detail: str, now: datetime) -> None:
        try:
            await asyncio.to_thread(
                self.ledger.record_dr_report, name, state=state, detail=detail, at=now
            )
        except LedgerError as exc:
            log.warning("demandresponseevent=%s report not recorded in the ledger: %s", name, exc)

    async def _patch(self, name: str, fields: dict[str, Any], conditions: list[Condition]) -> None:
        body = {**fields, "conditions": [c.wire() for c in conditions]}
        try:
            await asyncio.to_thread(self.hub.patch_status, "demandresponseevents", name, body)
        except KubeError as exc:
            log.warning("demandresponseevent=%s report status not written: %s", name, exc)


def vtn_report(service: SignalService) -> Report:
    """Report an OpenADR event's outcome to the VTN it came from, through the signals service."""

    async def report(
        obj: dict[str, Any], status: DemandResponseEventStatus, zone_load_kw: float
    ) -> bool:
        spec = DemandResponseEventSpec.model_validate(obj.get("spec") or {})
        if spec.source.event_id is None:
            return False
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
        return sent

    return report

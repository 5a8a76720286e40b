"""The planner's decisions to the ledger: written through, and carried by their Migration while
the ledger is away; never kept only in memory.

Each round :meth:`DecisionLog.write_moves` writes the decisions that start a Migration before
the Migration is created, so its ``spec.reason.decisionID`` names the row; the migration's own
ledger row then points at it (``migrations.decision_id``) and the chain is whole. When the ledger
refuses, the Migrations are created all the same (a dispatch order does not wait for
PostgreSQL) and each carries its decision in the annotation :data:`CARRIED`;
:meth:`DecisionLog.relay` writes carried decisions, once per Migration, as soon as the ledger
answers, from the Migrations in the hub (which a restart does not lose). The other decisions
(holds, dry runs, moves already written) follow in :meth:`DecisionLog.write_rest`: a workload's
decision is written when it differs from the last one written, and at least every
``DECISION_REFRESH``; while the ledger is away they are not written, and the first round after
it answers writes every workload's current decision.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from orchestrator.errors import LedgerError, LedgerInputError
from orchestrator.ledger.handle import Ledger
from orchestrator.ledger.records import CandidateScore, DecisionInput
from orchestrator.planner.model import Decision, Intent

log = logging.getLogger(__name__)

DECISION_REFRESH = timedelta(minutes=10)
CARRIED = "planner.gridshift.io/decision"
"""Annotation of a Migration whose decision the ledger could not take when it was created."""

Key = tuple[str, str]


def decision_input(
    decision: Decision,
    intent: Intent | None,
    *,
    decided_at: datetime,
    plan_id: str,
    cluster_zones: Mapping[str, str],
) -> DecisionInput:
    """The ledger's row for one decision, naming the signal and DR event of its intent."""
    chosen = decision.chosen_cluster
    return DecisionInput(
        decided_at=decided_at,
        plan_id=plan_id,
        namespace=decision.namespace,
        workload=decision.workload,
        zone=decision.zone,
        action=decision.action,
        reason=decision.reason,
        chosen_cluster=chosen,
        candidates=tuple(
            CandidateScore(cluster=c.cluster, total=c.total, terms=dict(c.terms))
            for c in decision.candidates
        ),
        trigger=intent.trigger if intent is not None else decision.trigger,
        chosen_zone=cluster_zones.get(chosen) if chosen else None,
        signal_external_id=intent.signal_id if intent is not None else None,
        dr_event_name=intent.demand_response_event if intent is not None else None,
    )


def carried(row: DecisionInput) -> str:
    """The annotation value of a decision a Migration carries (JSON)."""
    return json.dumps(
        {
            "decidedAt": row.decided_at.isoformat(),
            "planID": row.plan_id,
            "zone": row.zone,
            "action": row.action,
            "trigger": row.trigger,
            "reason": row.reason,
            "chosenCluster": row.chosen_cluster,
            "chosenZone": row.chosen_zone,
            "signalID": row.signal_external_id,
            "demandResponseEvent": row.dr_event_name,
            "candidates": [c.to_json() for c in row.candidates],
        },
        separators=(",", ":"),
    )


def read_carried(obj: Mapping[str, Any]) -> DecisionInput | None:
    """The decision a Migration carries, if any; LedgerInputError when it cannot be read."""
    meta = obj.get("metadata") or {}
    value = (meta.get("annotations") or {}).get(CARRIED)
    if value is None:
        return None
    try:
        doc = json.loads(value)
        return DecisionInput(
            decided_at=datetime.fromisoformat(doc["decidedAt"]),
            plan_id=doc.get("planID"),
            namespace=str(meta["namespace"]),
            workload=str(obj["spec"]["workload"]),
            zone=doc.get("zone"),
            action=str(doc["action"]),
            reason=str(doc["reason"]),
            chosen_cluster=doc.get("chosenCluster"),
            candidates=tuple(CandidateScore.from_json(c) for c in doc["candidates"]),
            trigger=doc.get("trigger"),
            chosen_zone=doc.get("chosenZone"),
            signal_external_id=doc.get("signalID"),
            dr_event_name=doc.get("demandResponseEvent"),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise LedgerInputError(f"annotation {CARRIED} is not a decision: {exc}") from exc


class DecisionLog:
    """Writes the leader's decisions to the ledger; one per planner."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._written: dict[Key, tuple[tuple[object, ...], datetime]] = {}
        self._settled: set[str] = set()
        """Uids of Migrations whose carried decision the ledger holds (an optimisation only:
        writing one again changes nothing)."""

    @staticmethod
    def plan_id(now: datetime) -> str:
        return f"plan-{now.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"

    async def write_moves(self, rows: Sequence[DecisionInput]) -> dict[Key, int] | None:
        """Write the decisions that start Migrations; their ids by workload, None when the
        ledger refused (the Migrations then carry them)."""
        if not rows:
            return {}
        try:
            ids = await asyncio.to_thread(self.ledger.record_decisions, rows)
        except LedgerError as exc:
            log.warning(
                "%d move decision(s) not recorded; their Migrations carry them: %s", len(rows), exc
            )
            return None
        for row in rows:
            self._note(row)
        return {(r.namespace, r.workload): i for r, i in zip(rows, ids, strict=True)}

    async def write_rest(self, rows: Sequence[DecisionInput], now: datetime) -> None:
        """Write the other decisions that changed, or were last written ``DECISION_REFRESH`` ago."""
        due = []
        for row in rows:
            last = self._written.get((row.namespace, row.workload))
            if last is None or last[0] != _fingerprint(row) or now - last[1] >= DECISION_REFRESH:
                due.append(row)
        if not due:
            return
        try:
            await asyncio.to_thread(self.ledger.record_decisions, due)
        except LedgerError as exc:
            log.warning("%d decision(s) not recorded (written once the ledger answers): %s",
                        len(due), exc)  # fmt: skip
            return
        for row in due:
            self._note(row)

    async def relay(self, migrations: Sequence[Mapping[str, Any]]) -> None:
        """Write the decisions Migrations carry, once each."""
        pending: list[tuple[str, DecisionInput]] = []
        seen = {str((obj.get("metadata") or {}).get("uid") or "") for obj in migrations}
        self._settled &= seen  # forget Migrations that are gone
        for obj in migrations:
            uid = str((obj.get("metadata") or {}).get("uid") or "")
            if not uid or uid in self._settled:
                continue
            try:
                row = read_carried(obj)
            except LedgerInputError as exc:
                log.warning("migration uid=%s: carried decision ignored: %s", uid, exc)
                self._settled.add(uid)
                continue
            if row is None:
                self._settled.add(uid)
            else:
                pending.append((uid, row))
        if not pending:
            return
        try:
            await asyncio.to_thread(self.ledger.record_carried_decisions, pending)
        except LedgerError as exc:
            log.warning("%d carried decision(s) wait for the ledger: %s", len(pending), exc)
            return
        self._settled.update(uid for uid, _ in pending)
        log.info("recorded %d decision(s) carried by their Migrations", len(pending))

    def _note(self, row: DecisionInput) -> None:
        self._written[(row.namespace, row.workload)] = (_fingerprint(row), row.decided_at)


def _fingerprint(row: DecisionInput) -> tuple[object, ...]:
    return (row.action, row.chosen_cluster, row.trigger, row.reason)

"""The one door to the ledger: a :class:`Ledger` per process, owning the engine and every
transaction.

Other layers call its methods with plain values and get :mod:`orchestrator.ledger.records`
back; each method opens one transaction (:func:`orchestrator.ledger.db.transaction`), calls the
repository functions that do the work, and commits. Every method is synchronous (async callers
use ``asyncio.to_thread``) and raises only ``LedgerError``: ``LedgerInputError`` for a value the
ledger refuses, ``LedgerNotFound`` and ``LedgerConflict`` where they say, plain ``LedgerError``
when PostgreSQL refuses or cannot be reached, at COMMIT too.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from orchestrator import metrics
from orchestrator.errors import LedgerError
from orchestrator.ledger import (
    decision_repo,
    dr_repo,
    grid_repo,
    migration_repo,
    story_repo,
    vocab,
)
from orchestrator.ledger.db import ledger_errors, make_engine, session_factory, transaction
from orchestrator.ledger.records import (
    DecisionInput,
    DecisionRecord,
    DrEventRecord,
    DrEventStory,
    DrObservation,
    DrOrderInput,
    DrReportInputs,
    MigrationRecord,
    MigrationSnapshot,
    SignalInput,
    SignalRecord,
    WhyRecord,
)

SIGNAL_PAGE = 10_000
SIGNAL_PAGES_MAX = 20
DURATIONS_PER_WORKLOAD = 20
"""How many of a workload's most recent completed moves its learned time is made from."""


class Ledger:
    """The ledger's PostgreSQL, for one process: ``Ledger(url)``, then its methods."""

    def __init__(self, url: str, *, connect_timeout_seconds: int = 3) -> None:
        self._engine = make_engine(url, connect_timeout_seconds=connect_timeout_seconds)
        self._sessions = session_factory(self._engine)

    def close(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    def ping(self) -> None:
        """One round trip to PostgreSQL (``SELECT 1``); raises LedgerError when it fails."""
        with ledger_errors("reaching the ledger"), self._engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    # -- grid signals ---------------------------------------------------------------------

    def record_signals(self, signals: Sequence[SignalInput]) -> list[tuple[int, bool]]:
        """Record ``signals`` in one transaction: (row id, created) of each, all or none."""
        with transaction(self._sessions, f"recording {len(signals)} signal(s)") as session:
            return [
                grid_repo.record_signal(
                    session,
                    source=s.source,
                    external_id=s.external_id,
                    zone=s.zone,
                    kind=s.kind,
                    interval_start=s.interval_start,
                    interval_end=s.interval_end,
                    value=s.value,
                    unit=s.unit,
                    payload=s.payload,
                )
                for s in signals
            ]

    def zone_signals(self, zone: str, *, since: datetime, until: datetime) -> list[SignalRecord]:
        """The zone's signals whose interval starts in ``[since, until)``, oldest first."""
        seen: dict[int, SignalRecord] = {}
        cursor = since
        with transaction(self._sessions, f"reading the signals of zone {zone}") as session:
            for _ in range(SIGNAL_PAGES_MAX):
                rows = grid_repo.signal_history(
                    session, zone=zone, since=cursor, until=until, limit=SIGNAL_PAGE
                )
                fresh = [r for r in rows if r.id not in seen]
                seen.update((r.id, r) for r in fresh)
                if len(rows) < SIGNAL_PAGE or not fresh:
                    break
                cursor = rows[-1].interval_start
        return sorted(seen.values(), key=lambda r: (r.interval_start, r.id))

    def zones_with_unprocessed_signals(self, *, since: datetime, until: datetime) -> list[str]:
        """Zones with signals not yet processed whose interval starts in ``[since, until)``
        (recorded by any replica): the leader's cue to process them."""
        with transaction(self._sessions, "reading the zones with unprocessed signals") as session:
            return grid_repo.zones_with_unprocessed_signals(session, since=since, until=until)

    def mark_signals_processed(self, ids: Collection[int], *, at: datetime) -> None:
        """Note that the signals ``ids`` were turned into zone state."""
        if not ids:
            return
        with transaction(self._sessions, f"marking {len(ids)} signal(s) processed") as session:
            for signal_id in sorted(ids):
                grid_repo.mark_signal_processed(session, signal_id=signal_id, processed_at=at)

    # -- demand-response events -----------------------------------------------------------

    def apply_dr_order(self, order: DrOrderInput, *, at: datetime) -> DrEventRecord | None:
        """Record (or revise) the DR event of ``order`` at ``at``; a cancelled one becomes
        Cancelled.

        None when ``order`` cancels an event the ledger never recorded. A cancelled event stays
        cancelled: a later revision of the same event does not revive it.
        """
        action = f"recording DR event {order.source} {order.external_id}"
        with transaction(self._sessions, action) as session:
            found = grid_repo.get_dr_event(
                session, source=order.source, external_id=order.external_id
            )
            if found is not None:
                grid_repo.link_dr_signals(session, event_id=found.id, signal_ids=order.signal_ids)
            if order.cancelled:
                if found is None or found.state == "Cancelled":
                    return found
                return grid_repo.set_dr_event_state(
                    session, event_id=found.id, state="Cancelled", at=at
                )
            if found is not None and found.state == "Cancelled":
                return found
            event_id, _ = grid_repo.upsert_dr_event(
                session,
                source=order.source,
                external_id=order.external_id,
                zone=order.zone,
                kind=order.kind,
                target_kw=order.target_kw,
                window_start=order.window_start,
                window_end=order.window_end,
                response_deadline_seconds=order.response_deadline_seconds,
                k8s_name=order.k8s_name,
                at=at,
            )
            grid_repo.link_dr_signals(session, event_id=event_id, signal_ids=order.signal_ids)
            row = grid_repo.get_dr_event(
                session, source=order.source, external_id=order.external_id
            )
        if row is None:
            raise LedgerError(f"DR event {order.external_id} vanished while it was recorded")
        return row

    def dr_events_in_force(self, zone: str, *, at: datetime) -> list[DrEventRecord]:
        """The zone's DR events whose window covers ``at``, not Cancelled or Ended."""
        with transaction(self._sessions, f"reading the DR events of zone {zone}") as session:
            return grid_repo.dr_events_in_force(session, zone=zone, at=at)

    def observe_dr_event(self, observation: DrObservation, *, at: datetime) -> DrEventRecord:
        """Record how a DemandResponseEvent stands at ``at``: state, outcome, shed curve."""
        action = f"recording how DR event {observation.k8s_name} stands"
        with transaction(self._sessions, action) as session:
            return dr_repo.observe_dr_event(session, observation, at=at)

    def record_dr_report(
        self, k8s_name: str, *, state: str, detail: str, at: datetime
    ) -> DrEventRecord | None:
        """Record that the outcome of DR event ``k8s_name`` was reported (``Sent``) or that the
        VTN refused it (``Refused``); None when the ledger has no such event."""
        with transaction(self._sessions, f"recording the report of DR event {k8s_name}") as s:
            return dr_repo.record_dr_report(s, k8s_name, state=state, detail=detail, at=at)

    def dr_event_story(self, k8s_name: str) -> DrEventStory | None:
        """A DR event by its object's name, with its transitions and shed curve."""
        with transaction(self._sessions, f"reading DR event {k8s_name}") as session:
            event = dr_repo.dr_event_named(session, k8s_name)
            return None if event is None else dr_repo.dr_event_story(session, event.id)

    # -- planner decisions ----------------------------------------------------------------

    def record_decisions(self, decisions: Sequence[DecisionInput]) -> list[int]:
        """Write decisions in one transaction, joined to their causes; their ids, in order."""
        with transaction(self._sessions, f"recording {len(decisions)} decision(s)") as session:
            return [_record_decision(session, d, migration_uid=None) for d in decisions]

    def record_carried_decisions(self, carried: Sequence[tuple[str, DecisionInput]]) -> list[int]:
        """Write the decisions Migrations carried while the ledger was away, once per Migration
        uid (a repeat returns the first id); their ids, in order."""
        with transaction(self._sessions, f"recording {len(carried)} carried decision(s)") as s:
            return [_record_decision(s, d, migration_uid=uid) for uid, d in carried]

    def decision_history(
        self, *, namespace: str, workload: str, limit: int = 100
    ) -> list[DecisionRecord]:
        """A workload's recorded decisions, newest first."""
        with transaction(self._sessions, "reading decision history") as session:
            return decision_repo.decision_history(
                session, namespace=namespace, workload=workload, limit=limit
            )

    # -- migrations -----------------------------------------------------------------------

    def record(self, snapshot: MigrationSnapshot) -> None:
        """Write a migration's snapshot in one transaction (idempotently): its row, one row per
        phase, and the outcome once it has ended; raises LedgerError when PostgreSQL refuses.

        Observes ``gridshift_ledger_write_lag_seconds``: commit time minus the newest fact.
        """
        try:
            self._record(snapshot)
        except LedgerError:
            metrics.LEDGER_FAILURES.inc()
            raise
        lag = (datetime.now(UTC) - snapshot.newest_fact()).total_seconds()
        metrics.ledger_written("outcome" if snapshot.outcome else "phase", lag)

    def _record(self, snapshot: MigrationSnapshot) -> None:
        action = f"recording migration {snapshot.namespace}/{snapshot.name}"
        with transaction(self._sessions, action) as session:
            migration_repo.record_migration_start(
                session,
                uid=snapshot.uid,
                namespace=snapshot.namespace,
                name=snapshot.name,
                workload=snapshot.workload,
                from_cluster=snapshot.from_cluster,
                to_cluster=snapshot.to_cluster,
                reason=snapshot.reason,
                trigger=snapshot.trigger,
                deadline_seconds=snapshot.deadline_seconds,
                started_at=snapshot.started_at,
                replicas=snapshot.replicas,
                kw_moved=snapshot.kw_moved,
            )
            for span in snapshot.phases:
                migration_repo.record_phase(
                    session,
                    migration_uid=snapshot.uid,
                    phase=span.phase,
                    started_at=span.started_at,
                    finished_at=span.finished_at,
                )
            if snapshot.outcome is not None and snapshot.finished_at is not None:
                migration_repo.finish_migration(
                    session,
                    uid=snapshot.uid,
                    outcome=snapshot.outcome,
                    finished_at=snapshot.finished_at,
                    deadline_met=bool(snapshot.deadline_met),
                    message=snapshot.message or None,
                    kw_moved=snapshot.kw_moved,
                )
            migration_repo.link_causes(
                session,
                uid=snapshot.uid,
                decision_id=snapshot.decision_id,
                dr_event_name=snapshot.demand_response_event,
                signal_external_id=snapshot.signal_id,
            )

    def migration_history(
        self,
        *,
        namespace: str | None = None,
        workload: str | None = None,
        cluster: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[MigrationRecord]:
        """Recorded migrations started since ``since``, newest first, with their phases."""
        with transaction(self._sessions, "reading migration history") as session:
            return migration_repo.migration_history(
                session,
                namespace=namespace,
                workload=workload,
                cluster=cluster,
                since=since,
                limit=limit,
            )

    def completed_durations(
        self, *, since: datetime, per_workload: int = DURATIONS_PER_WORKLOAD
    ) -> dict[tuple[str, str], list[float]]:
        """Seconds of each workload's most recent completed moves started since ``since``."""
        with transaction(self._sessions, "reading learned migration times") as session:
            return migration_repo.recent_durations(session, since=since, per_workload=per_workload)

    # -- the causal chain -----------------------------------------------------------------

    def why(self, *, namespace: str, workload: str, at: datetime) -> WhyRecord | None:
        """Why the workload moved at ``at``: its move (in flight then, else the last before),
        the decision with every candidate, the signals behind it and the DR event it answered."""
        action = f"reading why {namespace}/{workload} moved"
        with transaction(self._sessions, action) as session:
            return story_repo.why(session, namespace=namespace, workload=workload, at=at)

    def report_inputs(
        self,
        *,
        event: str | None = None,
        since: datetime | None = None,
        until: datetime,
        zone: str | None = None,
    ) -> list[DrReportInputs]:
        """What the DR report needs: of the event whose object is ``event``, or of every event
        whose window starts in ``[since, until)`` (of ``zone``, if given), oldest first."""
        with transaction(self._sessions, "reading the DR report") as session:
            if event is not None:
                found = dr_repo.dr_event_named(session, event)
                events = [] if found is None else [found]
            else:
                events = grid_repo.dr_events_for_zone(
                    session, zone=zone, since=since, until=until, limit=vocab.HISTORY_LIMIT_MAX
                )
            reports = [story_repo.report_inputs(session, e, until=until) for e in events]
        return [r for r in reports if r is not None]


def _record_decision(session: Session, d: DecisionInput, *, migration_uid: str | None) -> int:
    return decision_repo.record_decision(
        session,
        decided_at=d.decided_at,
        namespace=d.namespace,
        workload=d.workload,
        zone=d.zone,
        action=d.action,
        reason=d.reason[: vocab.REASON_MAX],
        chosen_cluster=d.chosen_cluster,
        candidates=d.candidates[: vocab.CANDIDATES_MAX],
        plan_id=d.plan_id,
        migration_uid=migration_uid,
        trigger=d.trigger,
        chosen_zone=d.chosen_zone,
        signal_external_id=d.signal_external_id,
        dr_event_name=d.dr_event_name,
    )

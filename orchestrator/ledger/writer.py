"""A process-wide ledger handle for the operator: an engine, and whole-migration writes.

The migration engine hands over a :class:`MigrationSnapshot` (the Migration's spec and status
as plain values) and this module writes it in one transaction: the migration row, one row per
phase, and the outcome when the move has ended. Every write is idempotent, so the engine writes
the same snapshot again after a failure (PostgreSQL down, operator restarted) and the ledger
converges on exactly one row per migration and one per phase.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Engine, text

from orchestrator import metrics
from orchestrator.errors import LedgerError
from orchestrator.ledger.db import ledger_errors, make_engine, session_factory
from orchestrator.ledger.migration_repo import (
    finish_migration,
    record_migration_start,
    record_phase,
)


@dataclass(frozen=True)
class PhaseSpan:
    """One phase of a move: when it began and, once over, when it ended."""

    phase: str
    started_at: datetime
    finished_at: datetime | None = None


@dataclass(frozen=True)
class MigrationSnapshot:
    """Everything the ledger keeps of one Migration, as plain values."""

    uid: str
    namespace: str
    name: str
    workload: str
    from_cluster: str
    to_cluster: str
    reason: str
    trigger: str
    deadline_seconds: int
    started_at: datetime
    replicas: int
    kw_moved: float | None = None
    phases: tuple[PhaseSpan, ...] = field(default_factory=tuple)
    outcome: str | None = None
    finished_at: datetime | None = None
    deadline_met: bool | None = None
    message: str | None = None

    def newest_fact(self) -> datetime:
        """When the newest thing this snapshot records happened (a phase begun, the end)."""
        times = [self.started_at, *(span.started_at for span in self.phases)]
        if self.finished_at is not None:
            times.append(self.finished_at)
        return max(times)


class LedgerWriter:
    """Writes migrations to the ledger; one per operator process."""

    def __init__(self, url: str, *, connect_timeout_seconds: int = 3) -> None:
        self.engine: Engine = make_engine(url, connect_timeout_seconds=connect_timeout_seconds)
        self._sessions = session_factory(self.engine)

    def record(self, snapshot: MigrationSnapshot) -> None:
        """Write the snapshot (idempotently); raises LedgerError when PostgreSQL refuses.

        Observes ``gridshift_ledger_write_lag_seconds``: commit time minus the newest fact.
        """
        try:
            self._write(snapshot)
        except (LedgerError, ValueError):
            metrics.LEDGER_FAILURES.inc()
            raise
        lag = (datetime.now(UTC) - snapshot.newest_fact()).total_seconds()
        metrics.ledger_written("outcome" if snapshot.outcome else "phase", lag)

    def ping(self) -> None:
        """One round trip to PostgreSQL (``SELECT 1``); raises LedgerError when it fails."""
        with ledger_errors("reaching the ledger"), self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def _write(self, snapshot: MigrationSnapshot) -> None:
        with self._sessions.begin() as session:
            record_migration_start(
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
                record_phase(
                    session,
                    migration_uid=snapshot.uid,
                    phase=span.phase,
                    started_at=span.started_at,
                    finished_at=span.finished_at,
                )
            if snapshot.outcome is not None and snapshot.finished_at is not None:
                finish_migration(
                    session,
                    uid=snapshot.uid,
                    outcome=snapshot.outcome,
                    finished_at=snapshot.finished_at,
                    deadline_met=bool(snapshot.deadline_met),
                    message=snapshot.message or None,
                    kw_moved=snapshot.kw_moved,
                )

    def close(self) -> None:
        self.engine.dispose()

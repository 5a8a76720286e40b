"""The ledger's repository: every read and write, each taking the caller's ``Session``.

Callers own the transaction; nothing here commits::

    factory = session_factory(make_engine(url))
    with factory.begin() as session:
        signal_id, created = record_signal(session, source="tou:shanghai", ...)

Writes are idempotent, keyed by external ids (signals, DR events) or the Migration's uid. Bad
input raises ``ValueError`` before any SQL is sent; database failures raise ``LedgerError``.
The functions live in ``grid_repo``, ``migration_repo`` and ``decision_repo``.
"""

from __future__ import annotations

from orchestrator.ledger.decision_repo import decision_history, record_decision
from orchestrator.ledger.grid_repo import (
    dr_events_for_zone,
    get_dr_event,
    mark_signal_processed,
    record_signal,
    set_dr_event_state,
    signal_history,
    upsert_dr_event,
)
from orchestrator.ledger.migration_repo import (
    finish_migration,
    get_migration,
    migration_durations,
    migration_history,
    recent_durations,
    record_migration_start,
    record_phase,
)
from orchestrator.ledger.records import (
    CandidateScore,
    DecisionRecord,
    DrEventRecord,
    MigrationRecord,
    PhaseRecord,
    SignalRecord,
)

__all__ = [
    "CandidateScore",
    "DecisionRecord",
    "DrEventRecord",
    "MigrationRecord",
    "PhaseRecord",
    "SignalRecord",
    "decision_history",
    "dr_events_for_zone",
    "finish_migration",
    "get_dr_event",
    "get_migration",
    "mark_signal_processed",
    "migration_durations",
    "migration_history",
    "recent_durations",
    "record_decision",
    "record_migration_start",
    "record_phase",
    "record_signal",
    "set_dr_event_state",
    "signal_history",
    "upsert_dr_event",
]

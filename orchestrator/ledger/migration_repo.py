"""Migrations and their phases, keyed by the Migration object's Kubernetes uid.

Every write can run twice with the same effect, so a controller that reconciles again after a
crash records nothing twice. Functions take the caller's ``Session`` and never commit.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import extract, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session, selectinload

from orchestrator.errors import LedgerConflict, LedgerError, LedgerInputError, LedgerNotFound
from orchestrator.ledger import validate, vocab
from orchestrator.ledger.db import ledger_errors
from orchestrator.ledger.grid_repo import dr_event_id_named
from orchestrator.ledger.models import Decision, Migration, MigrationPhase
from orchestrator.ledger.records import MigrationRecord, PhaseRecord
from orchestrator.ledger.rows import migration_record, phase_record

_ZERO = Decimal(0)
_ID_MAX = 2**63 - 1


def record_migration_start(
    session: Session,
    *,
    uid: uuid.UUID | str,
    namespace: str,
    name: str,
    workload: str,
    from_cluster: str,
    to_cluster: str,
    reason: str,
    trigger: str,
    deadline_seconds: int,
    started_at: datetime,
    replicas: int,
    dr_event_id: int | None = None,
    kw_moved: Decimal | float | None = None,
) -> bool:
    """Record that a migration started, in phase ``Pending``; True if this call created the row.

    Keyed by ``uid``: a repeat (same uid) changes nothing and returns False. ``reason`` may be
    empty (a Migration created by hand need not give one).
    """
    key = validate.uid("uid", uid)
    source = validate.text("from_cluster", from_cluster, max_len=vocab.CLUSTER_MAX)
    target = validate.text("to_cluster", to_cluster, max_len=vocab.CLUSTER_MAX)
    if source == target:
        raise LedgerInputError(f"from_cluster and to_cluster must differ, both are {source!r}")
    event = None
    if dr_event_id is not None:
        event = validate.integer("dr_event_id", dr_event_id, minimum=1, maximum=_ID_MAX)
    row = {
        "id": key,
        "namespace": validate.text("namespace", namespace, max_len=vocab.NAMESPACE_MAX),
        "name": validate.text("name", name, max_len=vocab.NAME_MAX),
        "workload": validate.text("workload", workload, max_len=vocab.NAME_MAX),
        "from_cluster": source,
        "to_cluster": target,
        "reason": validate.text("reason", reason, max_len=vocab.REASON_MAX, allow_empty=True),
        "trigger": validate.one_of("trigger", trigger, vocab.MIGRATION_TRIGGERS),
        "deadline_seconds": validate.integer(
            "deadline_seconds", deadline_seconds, minimum=1, maximum=vocab.DEADLINE_SECONDS_MAX
        ),
        "started_at": validate.aware("started_at", started_at),
        "replicas": validate.integer("replicas", replicas, minimum=0, maximum=vocab.REPLICAS_MAX),
        "dr_event_id": event,
        "kw_moved": validate.optional_decimal(
            "kw_moved", kw_moved, digits=vocab.KW_DIGITS, minimum=_ZERO
        ),
        "phase": "Pending",
    }
    with ledger_errors(f"recording the start of migration {namespace}/{name} ({key})"):
        inserted = session.execute(
            pg_insert(Migration)
            .values(row)
            .on_conflict_do_nothing(index_elements=[Migration.id])
            .returning(Migration.id)
        ).scalar_one_or_none()
    return inserted is not None


def link_causes(
    session: Session,
    *,
    uid: uuid.UUID | str,
    decision_id: int | None = None,
    dr_event_name: str | None = None,
    signal_external_id: str | None = None,
) -> None:
    """Join a recorded migration to its causes; what is already joined stays as it is.

    The decision is ``decision_id`` when it is a decision about the same workload, else the one
    that names this Migration (a decision its Migration carried); the DR event is the one whose
    object is ``dr_event_name``, else the decision's. The decision then names the migration.
    Anything not (yet) in the ledger is left unjoined, so a wrong or lost id never blocks the
    migration's row.
    """
    key = validate.uid("uid", uid)
    given = None
    if decision_id is not None:
        given = validate.integer("decision_id", decision_id, minimum=1, maximum=_ID_MAX)
    name = validate.optional_text("dr_event_name", dr_event_name, max_len=vocab.NAME_MAX)
    signal = validate.optional_text(
        "signal_external_id", signal_external_id, max_len=vocab.EXTERNAL_ID_MAX
    )
    with ledger_errors(f"joining migration {key} to its causes"):
        row = session.execute(
            select(Migration.namespace, Migration.workload, Migration.decision_id)
            .where(Migration.id == key)
            .with_for_update()
        ).one_or_none()
        if row is None:
            raise LedgerNotFound(f"no migration with uid {key}; record its start first")
        same_workload = (Decision.namespace == row.namespace, Decision.workload == row.workload)
        decision = row.decision_id
        if decision is None and given is not None:
            decision = session.execute(
                select(Decision.id).where(Decision.id == given, *same_workload)
            ).scalar_one_or_none()
        if decision is None:
            decision = session.execute(
                select(Decision.id).where(Decision.migration_uid == key)
            ).scalar_one_or_none()
        event = None if name is None else dr_event_id_named(session, name)
        if event is None and decision is not None:
            event = session.execute(
                select(Decision.dr_event_id).where(Decision.id == decision)
            ).scalar_one()
        session.execute(
            update(Migration)
            .where(Migration.id == key)
            .values(
                decision_id=func.coalesce(Migration.decision_id, decision),
                dr_event_id=func.coalesce(Migration.dr_event_id, event),
                signal_external_id=func.coalesce(Migration.signal_external_id, signal),
            )
        )
        if decision is not None:
            claimed = select(Decision.id).where(Decision.migration_uid == key).exists()
            session.execute(
                update(Decision)
                .where(Decision.id == decision, Decision.migration_uid.is_(None), ~claimed)
                .values(migration_uid=key)
            )


def record_phase(
    session: Session,
    *,
    migration_uid: uuid.UUID | str,
    phase: str,
    started_at: datetime,
    finished_at: datetime | None = None,
    message: str | None = None,
) -> PhaseRecord:
    """Record that a migration entered ``phase``; one row per (migration, phase), ever.

    A repeat keeps the first ``started_at`` and updates ``finished_at`` and ``message`` when
    given. While the migration has no outcome, its ``phase`` becomes the phase that started
    last, so phases recorded out of order still leave the right one current.
    """
    key = validate.uid("migration_uid", migration_uid)
    start = validate.aware("started_at", started_at)
    end = validate.optional_aware("finished_at", finished_at)
    validate.not_before("started_at", start, "finished_at", end)
    row = {
        "migration_id": key,
        "phase": validate.one_of("phase", phase, vocab.MIGRATION_PHASES),
        "started_at": start,
        "finished_at": end,
        "message": validate.optional_text("message", message, max_len=vocab.MESSAGE_MAX),
    }
    insert = pg_insert(MigrationPhase).values(row)
    conflict = [MigrationPhase.migration_id, MigrationPhase.phase]
    changes = {
        column: insert.excluded[column]
        for column, given in (("finished_at", end), ("message", message))
        if given is not None
    }
    with ledger_errors(f"recording phase {phase} of migration {key}"):
        outcome = session.execute(
            select(Migration.outcome).where(Migration.id == key).with_for_update()
        ).one_or_none()
        if outcome is None:
            raise LedgerNotFound(f"no migration with uid {key}; record its start first")
        session.execute(
            insert.on_conflict_do_update(index_elements=conflict, set_=changes)
            if changes
            else insert.on_conflict_do_nothing(index_elements=conflict)
        )
        stored = session.scalars(
            select(MigrationPhase)
            .where(MigrationPhase.migration_id == key, MigrationPhase.phase == phase)
            .execution_options(populate_existing=True)
        ).one()
        if outcome[0] is None:
            latest = (
                select(MigrationPhase.phase)
                .where(MigrationPhase.migration_id == key)
                .order_by(MigrationPhase.started_at.desc(), MigrationPhase.id.desc())
                .limit(1)
                .scalar_subquery()
            )
            session.execute(update(Migration).where(Migration.id == key).values(phase=latest))
        return phase_record(stored)


def finish_migration(
    session: Session,
    *,
    uid: uuid.UUID | str,
    outcome: str,
    finished_at: datetime,
    deadline_met: bool,
    message: str | None = None,
    kw_moved: Decimal | float | None = None,
) -> MigrationRecord:
    """Record a migration's outcome; its phase becomes the outcome and open phases close.

    A repeat with the same outcome updates the same fields; a different outcome for a migration
    that already has one is refused.
    """
    key = validate.uid("uid", uid)
    result = validate.one_of("outcome", outcome, vocab.MIGRATION_OUTCOMES)
    end = validate.aware("finished_at", finished_at)
    if not isinstance(deadline_met, bool):
        raise LedgerInputError(f"deadline_met must be a bool, got {type(deadline_met).__name__}")
    changes: dict[str, object] = {
        "outcome": result,
        "phase": result,
        "finished_at": end,
        "deadline_met": deadline_met,
    }
    if message is not None:
        changes["message"] = validate.text("message", message, max_len=vocab.MESSAGE_MAX)
    if kw_moved is not None:
        changes["kw_moved"] = validate.decimal(
            "kw_moved", kw_moved, digits=vocab.KW_DIGITS, minimum=_ZERO
        )
    with ledger_errors(f"finishing migration {key}"):
        current = session.execute(
            select(Migration.outcome, Migration.started_at)
            .where(Migration.id == key)
            .with_for_update()
        ).one_or_none()
        if current is None:
            raise LedgerNotFound(f"no migration with uid {key}; record its start first")
        if current.outcome is not None and current.outcome != result:
            raise LedgerConflict(
                f"migration {key} already finished as {current.outcome}; refusing {result}"
            )
        validate.not_before("started_at", current.started_at, "finished_at", end)
        session.execute(update(Migration).where(Migration.id == key).values(changes))
        session.execute(
            update(MigrationPhase)
            .where(
                MigrationPhase.migration_id == key,
                MigrationPhase.finished_at.is_(None),
                MigrationPhase.started_at <= end,
            )
            .values(finished_at=end)
        )
        found = _load(session, key)
    if found is None:
        raise LedgerError(f"migration {key} vanished while it was being finished")
    return found


def get_migration(session: Session, uid: uuid.UUID | str) -> MigrationRecord | None:
    """The migration with this uid and its phases (ordered by start), if recorded."""
    key = validate.uid("uid", uid)
    with ledger_errors(f"reading migration {key}"):
        return _load(session, key)


def _load(session: Session, key: uuid.UUID) -> MigrationRecord | None:
    row = session.scalars(
        select(Migration)
        .where(Migration.id == key)
        .options(selectinload(Migration.phases))
        .execution_options(populate_existing=True)
    ).one_or_none()
    return None if row is None else migration_record(row)


def migration_history(
    session: Session,
    *,
    namespace: str | None = None,
    workload: str | None = None,
    cluster: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
) -> list[MigrationRecord]:
    """Migrations started in [since, until), newest first, with their phases.

    ``cluster`` matches either end of a move (from or to).
    """
    validate.time_range(since, until)
    query = select(Migration)
    if namespace is not None:
        ns = validate.text("namespace", namespace, max_len=vocab.NAMESPACE_MAX)
        query = query.where(Migration.namespace == ns)
    if workload is not None:
        name = validate.text("workload", workload, max_len=vocab.NAME_MAX)
        query = query.where(Migration.workload == name)
    if cluster is not None:
        member = validate.text("cluster", cluster, max_len=vocab.CLUSTER_MAX)
        query = query.where((Migration.from_cluster == member) | (Migration.to_cluster == member))
    if since is not None:
        query = query.where(Migration.started_at >= since)
    if until is not None:
        query = query.where(Migration.started_at < until)
    query = (
        query.options(selectinload(Migration.phases))
        .order_by(Migration.started_at.desc(), Migration.id)
        .limit(validate.limit(limit, maximum=vocab.HISTORY_LIMIT_MAX))
        .execution_options(populate_existing=True)
    )
    with ledger_errors("reading migration history"):
        return [migration_record(row) for row in session.scalars(query)]


def recent_durations(
    session: Session, *, since: datetime, per_workload: int
) -> dict[tuple[str, str], list[float]]:
    """Seconds of every workload's ``per_workload`` most recent completed moves started since
    ``since``, by (namespace, workload), most recent first: one query for the whole fleet."""
    validate.aware("since", since)
    limit = validate.limit(per_workload, maximum=vocab.HISTORY_LIMIT_MAX)
    ranked = (
        select(
            Migration.namespace,
            Migration.workload,
            extract("epoch", Migration.finished_at - Migration.started_at).label("seconds"),
            func.row_number()
            .over(
                partition_by=(Migration.namespace, Migration.workload),
                order_by=Migration.finished_at.desc(),
            )
            .label("rank"),
        )
        .where(Migration.outcome == "Completed", Migration.started_at >= since)
        .subquery()
    )
    query = (
        select(ranked.c.namespace, ranked.c.workload, ranked.c.seconds)
        .where(ranked.c.rank <= limit)
        .order_by(ranked.c.namespace, ranked.c.workload, ranked.c.rank)
    )
    found: dict[tuple[str, str], list[float]] = {}
    with ledger_errors("reading learned migration times"):
        for namespace, workload, seconds in session.execute(query):
            found.setdefault((namespace, workload), []).append(float(seconds))
    return found

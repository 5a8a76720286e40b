"""ORM rows to plain records: the one place a model becomes a :mod:`records` dataclass."""

from __future__ import annotations

from orchestrator.ledger.models import (
    Decision,
    DrEvent,
    DrEventSample,
    DrEventTransition,
    GridSignal,
    Migration,
    MigrationPhase,
)
from orchestrator.ledger.records import (
    CandidateScore,
    DecisionRecord,
    DrEventRecord,
    DrSampleRecord,
    DrTransitionRecord,
    MigrationRecord,
    PhaseRecord,
    SignalRecord,
)


def signal_record(row: GridSignal) -> SignalRecord:
    """A copy of a ``grid_signals`` row."""
    return SignalRecord(
        id=row.id,
        source=row.source,
        external_id=row.external_id,
        zone=row.zone,
        kind=row.kind,
        interval_start=row.interval_start,
        interval_end=row.interval_end,
        value=row.value,
        unit=row.unit,
        payload=row.payload,
        received_at=row.received_at,
        processed_at=row.processed_at,
    )


def dr_event_record(row: DrEvent) -> DrEventRecord:
    """A copy of a ``dr_events`` row."""
    return DrEventRecord(
        id=row.id,
        source=row.source,
        external_id=row.external_id,
        zone=row.zone,
        kind=row.kind,
        target_kw=row.target_kw,
        window_start=row.window_start,
        window_end=row.window_end,
        response_deadline_seconds=row.response_deadline_seconds,
        state=row.state,
        achieved_kw=row.achieved_kw,
        responded_at=row.responded_at,
        k8s_name=row.k8s_name,
        created_at=row.created_at,
        updated_at=row.updated_at,
        missing_kw=row.missing_kw,
        met_at=row.met_at,
        outcome=row.outcome,
        outcome_at=row.outcome_at,
        report_state=row.report_state,
        reported_at=row.reported_at,
        report_detail=row.report_detail,
    )


def transition_record(row: DrEventTransition) -> DrTransitionRecord:
    """A copy of a ``dr_event_transitions`` row."""
    return DrTransitionRecord(state=row.state, entered_at=row.entered_at, message=row.message)


def sample_record(row: DrEventSample) -> DrSampleRecord:
    """A copy of a ``dr_event_samples`` row."""
    return DrSampleRecord(
        sampled_at=row.sampled_at,
        state=row.state,
        shed_kw=row.shed_kw,
        in_flight_kw=row.in_flight_kw,
        zone_load_kw=row.zone_load_kw,
        missing_kw=row.missing_kw,
    )


def decision_record(row: Decision) -> DecisionRecord:
    """A copy of a ``decisions`` row, its candidates parsed."""
    return DecisionRecord(
        id=row.id,
        decided_at=row.decided_at,
        namespace=row.namespace,
        workload=row.workload,
        zone=row.zone,
        action=row.action,
        reason=row.reason,
        chosen_cluster=row.chosen_cluster,
        candidates=tuple(CandidateScore.from_json(c) for c in row.candidates),
        plan_id=row.plan_id,
        migration_uid=row.migration_uid,
        trigger=row.trigger,
        dr_event_id=row.dr_event_id,
        signal_external_id=row.signal_external_id,
        chosen_zone=row.chosen_zone,
    )


def phase_record(row: MigrationPhase) -> PhaseRecord:
    """A copy of a ``migration_phases`` row."""
    return PhaseRecord(
        phase=row.phase,
        started_at=row.started_at,
        finished_at=row.finished_at,
        message=row.message,
    )


def migration_record(row: Migration) -> MigrationRecord:
    """A copy of a ``migrations`` row with its phases (loaded with the row)."""
    return MigrationRecord(
        uid=row.id,
        namespace=row.namespace,
        name=row.name,
        workload=row.workload,
        from_cluster=row.from_cluster,
        to_cluster=row.to_cluster,
        reason=row.reason,
        trigger=row.trigger,
        dr_event_id=row.dr_event_id,
        deadline_seconds=row.deadline_seconds,
        started_at=row.started_at,
        finished_at=row.finished_at,
        phase=row.phase,
        outcome=row.outcome,
        deadline_met=row.deadline_met,
        kw_moved=row.kw_moved,
        replicas=row.replicas,
        message=row.message,
        phases=tuple(phase_record(p) for p in row.phases),
        decision_id=row.decision_id,
        signal_external_id=row.signal_external_id,
    )

"""What the repository returns: small frozen dataclasses, detached from any session.

A record is a plain copy of a row, safe to keep after the session closes and to hand to layers
that must not import SQLAlchemy. ``CandidateScore`` is also an input: it is the shape of one entry
of ``decisions.candidates``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from orchestrator.ledger import validate, vocab
from orchestrator.ledger.models import (
    Decision,
    DrEvent,
    GridSignal,
    JsonValue,
    Migration,
    MigrationPhase,
)


@dataclass(frozen=True, slots=True)
class CandidateScore:
    """One cluster the planner considered: its total score and every term of it."""

    cluster: str
    total: float
    terms: Mapping[str, float]

    def __post_init__(self) -> None:
        validate.text("candidate cluster", self.cluster, max_len=vocab.CLUSTER_MAX)
        validate.finite(f"total of candidate {self.cluster}", self.total)
        if not isinstance(self.terms, Mapping) or set(self.terms) != set(vocab.CANDIDATE_TERMS):
            given = sorted(self.terms) if isinstance(self.terms, Mapping) else self.terms
            raise ValueError(
                f"terms of candidate {self.cluster} must be exactly "
                f"{', '.join(vocab.CANDIDATE_TERMS)}; got {given}"
            )
        for term, value in self.terms.items():
            validate.finite(f"term {term} of candidate {self.cluster}", value)

    def to_json(self) -> dict[str, JsonValue]:
        """The JSON object stored in ``decisions.candidates``."""
        terms: dict[str, JsonValue] = {t: float(self.terms[t]) for t in vocab.CANDIDATE_TERMS}
        return {"cluster": self.cluster, "total": float(self.total), "terms": terms}

    @classmethod
    def from_json(cls, value: JsonValue) -> CandidateScore:
        """Read one entry of ``decisions.candidates`` back; refuse anything else."""
        if not isinstance(value, dict):
            raise ValueError(f"a candidate must be a JSON object, got {type(value).__name__}")
        cluster, total, terms = value.get("cluster"), value.get("total"), value.get("terms")
        if not isinstance(cluster, str) or not isinstance(terms, dict):
            raise ValueError(f"a candidate needs a cluster and terms, got keys {sorted(value)}")
        numbers = {k: validate.finite(f"term {k}", v) for k, v in terms.items()}
        return cls(cluster=cluster, total=validate.finite("total", total), terms=numbers)


@dataclass(frozen=True, slots=True)
class SignalRecord:
    """A row of ``grid_signals``."""

    id: int
    source: str
    external_id: str
    zone: str
    kind: str
    interval_start: datetime
    interval_end: datetime | None
    value: Decimal | None
    unit: str
    payload: Mapping[str, JsonValue]
    received_at: datetime
    processed_at: datetime | None

    @classmethod
    def of(cls, row: GridSignal) -> SignalRecord:
        """A copy of ``row``."""
        return cls(
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


@dataclass(frozen=True, slots=True)
class DrEventRecord:
    """A row of ``dr_events``."""

    id: int
    source: str
    external_id: str
    zone: str
    kind: str
    target_kw: Decimal
    window_start: datetime
    window_end: datetime | None
    response_deadline_seconds: int
    state: str
    achieved_kw: Decimal | None
    responded_at: datetime | None
    k8s_name: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: DrEvent) -> DrEventRecord:
        """A copy of ``row``."""
        return cls(
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
        )


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """A row of ``decisions``, its candidates parsed."""

    id: int
    decided_at: datetime
    namespace: str
    workload: str
    zone: str | None
    action: str
    reason: str
    chosen_cluster: str | None
    candidates: tuple[CandidateScore, ...]
    plan_id: str | None
    migration_uid: uuid.UUID | None

    @classmethod
    def of(cls, row: Decision) -> DecisionRecord:
        """A copy of ``row``."""
        return cls(
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
        )


@dataclass(frozen=True, slots=True)
class PhaseRecord:
    """A row of ``migration_phases``."""

    phase: str
    started_at: datetime
    finished_at: datetime | None
    message: str | None

    @classmethod
    def of(cls, row: MigrationPhase) -> PhaseRecord:
        """A copy of ``row``."""
        return cls(
            phase=row.phase,
            started_at=row.started_at,
            finished_at=row.finished_at,
            message=row.message,
        )


@dataclass(frozen=True, slots=True)
class MigrationRecord:
    """A row of ``migrations`` with its phases, ordered by when each started."""

    uid: uuid.UUID
    namespace: str
    name: str
    workload: str
    from_cluster: str
    to_cluster: str
    reason: str
    trigger: str
    dr_event_id: int | None
    deadline_seconds: int
    started_at: datetime
    finished_at: datetime | None
    phase: str
    outcome: str | None
    deadline_met: bool | None
    kw_moved: Decimal | None
    replicas: int
    message: str | None
    phases: tuple[PhaseRecord, ...]

    @property
    def duration_seconds(self) -> float | None:
        """Seconds from start to outcome; ``None`` while running."""
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    @classmethod
    def of(cls, row: Migration, phases: tuple[PhaseRecord, ...]) -> MigrationRecord:
        """A copy of ``row`` with the given ``phases``."""
        return cls(
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
            phases=phases,
        )

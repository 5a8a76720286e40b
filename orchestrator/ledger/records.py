"""What the ledger takes and returns: small frozen dataclasses, free of the ORM.

Other layers hand these to :class:`orchestrator.ledger.handle.Ledger` and get these back; none
holds a session or a row, so they are safe to keep after the transaction and to pass to layers
that never import SQLAlchemy (an import contract checks that this module does not either).
``CandidateScore`` is both: the shape of one entry of ``decisions.candidates``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from orchestrator.errors import LedgerInputError
from orchestrator.ledger import validate, vocab
from orchestrator.ledger.vocab import JsonValue


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
            raise LedgerInputError(
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
            raise LedgerInputError(f"a candidate must be a JSON object, got {type(value).__name__}")
        cluster, total, terms = value.get("cluster"), value.get("total"), value.get("terms")
        if not isinstance(cluster, str) or not isinstance(terms, dict):
            raise LedgerInputError(
                f"a candidate needs a cluster and terms, got keys {sorted(value)}"
            )
        numbers = {k: validate.finite(f"term {k}", v) for k, v in terms.items()}
        return cls(cluster=cluster, total=validate.finite("total", total), terms=numbers)


# -- signals and DR events --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignalInput:
    """One normalized grid signal to record (a row of ``grid_signals`` to be)."""

    source: str
    external_id: str
    zone: str
    kind: str
    interval_start: datetime
    interval_end: datetime | None
    value: float | None
    unit: str
    payload: Mapping[str, JsonValue]


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


@dataclass(frozen=True, slots=True)
class DrOrderInput:
    """The newest revision of a demand-response order, as the signals processor read it."""

    source: str
    external_id: str
    zone: str
    kind: str
    target_kw: float
    window_start: datetime
    window_end: datetime | None
    response_deadline_seconds: int
    k8s_name: str
    cancelled: bool = False


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


# -- decisions --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DecisionInput:
    """One planner decision to record."""

    namespace: str
    workload: str
    zone: str | None
    action: str
    reason: str
    chosen_cluster: str | None
    candidates: tuple[CandidateScore, ...]


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


# -- migrations -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PhaseSpan:
    """One phase of a move: when it began and, once over, when it ended."""

    phase: str
    started_at: datetime
    finished_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class MigrationSnapshot:
    """Everything the ledger keeps of one Migration, as plain values (the engine's view)."""

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


@dataclass(frozen=True, slots=True)
class PhaseRecord:
    """A row of ``migration_phases``."""

    phase: str
    started_at: datetime
    finished_at: datetime | None
    message: str | None


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

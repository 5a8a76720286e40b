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
from datetime import datetime, timedelta
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
    signal_ids: tuple[int, ...] = ()
    """The ``grid_signals`` rows of this event (every revision seen), linked to its row."""


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
    missing_kw: Decimal | None = None
    met_at: datetime | None = None
    outcome: str | None = None
    """Met or Missed once decided; it stays when the state turns Ended."""
    outcome_at: datetime | None = None
    report_state: str | None = None
    """Sent or Refused once the outcome was reported to the VTN."""
    reported_at: datetime | None = None
    report_detail: str | None = None

    @property
    def deadline(self) -> datetime:
        """When the response had to be in place: window start + response deadline."""
        return self.window_start + timedelta(seconds=self.response_deadline_seconds)


@dataclass(frozen=True, slots=True)
class DrObservation:
    """How a DemandResponseEvent stands now, as the controller accounted it (its status)."""

    k8s_name: str
    zone: str
    kind: str
    target_kw: float
    window_start: datetime
    window_end: datetime | None
    response_deadline_seconds: int
    state: str
    """The object's state: Scheduled, Active, Met, Missed or Cancelled."""
    shed_kw: float
    in_flight_kw: float
    zone_load_kw: float
    missing_kw: float
    responded_at: datetime | None
    met_at: datetime | None
    message: str = ""


@dataclass(frozen=True, slots=True)
class DrTransitionRecord:
    """A row of ``dr_event_transitions``: a state entered, and when."""

    state: str
    entered_at: datetime
    message: str | None


@dataclass(frozen=True, slots=True)
class DrSampleRecord:
    """A row of ``dr_event_samples``: one point of the shed curve."""

    sampled_at: datetime
    state: str
    shed_kw: Decimal
    in_flight_kw: Decimal
    zone_load_kw: Decimal
    missing_kw: Decimal


# -- decisions --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DecisionInput:
    """One planner decision to record, with what it names as its cause."""

    decided_at: datetime
    plan_id: str | None
    namespace: str
    workload: str
    zone: str | None
    action: str
    reason: str
    chosen_cluster: str | None
    candidates: tuple[CandidateScore, ...]
    trigger: str | None = None
    chosen_zone: str | None = None
    signal_external_id: str | None = None
    """The signal the planner named (the zone's newest, or the DR order's event id)."""
    dr_event_name: str | None = None
    """The DemandResponseEvent it answers (the ledger finds its row by ``k8s_name``)."""


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
    trigger: str | None = None
    dr_event_id: int | None = None
    signal_external_id: str | None = None
    chosen_zone: str | None = None


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
    decision_id: int | None = None
    """The ledger's decision that created the Migration (``spec.reason.decisionID``)."""
    signal_id: str | None = None
    """The signal its reason names (``spec.reason.signalID``)."""
    demand_response_event: str | None = None
    """The DemandResponseEvent it answers (``spec.reason.demandResponseEvent``)."""

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
    decision_id: int | None = None
    signal_external_id: str | None = None

    @property
    def duration_seconds(self) -> float | None:
        """Seconds from start to outcome; ``None`` while running."""
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


# -- the causal chain -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DrEventStory:
    """A DR event with the states it went through and its shed curve, oldest first."""

    event: DrEventRecord
    transitions: tuple[DrTransitionRecord, ...]
    samples: tuple[DrSampleRecord, ...]


@dataclass(frozen=True, slots=True)
class WhyRecord:
    """Why a workload moved: the move and its phases, the decision that made it (with every
    candidate), the signals behind that decision and the DR event it answered."""

    migration: MigrationRecord
    decision: DecisionRecord | None
    signals: tuple[SignalRecord, ...]
    dr_event: DrEventStory | None


@dataclass(frozen=True, slots=True)
class ReportedMove:
    """A move made for a DR event, with its decision and when the workload left its target."""

    migration: MigrationRecord
    decision: DecisionRecord | None
    signals: tuple[SignalRecord, ...]
    left_target_at: datetime | None
    """When the workload's next completed move out of the target finished (it went home, or
    on); None while it is still there."""


@dataclass(frozen=True, slots=True)
class DrReportInputs:
    """Everything ``gridshift report`` reads about one DR event, from the ledger alone."""

    story: DrEventStory
    order_signals: tuple[SignalRecord, ...]
    moves: tuple[ReportedMove, ...]
    prices: Mapping[str, tuple[SignalRecord, ...]]
    """Price signals by zone (the event's and every target's), covering the window."""

"""The ledger's tables, as SQLAlchemy 2 declarative models: importing this module registers
every table on ``Base.metadata`` (what Alembic and the schema tests compare).

Eight tables record what gridshift saw and did, and join it into one story::

    grid_models   grid_signals, dr_events, dr_event_transitions, dr_event_samples
    move_models   decisions, decision_signals, migrations, migration_phases

The causal chain of a move: ``migrations.decision_id`` -> ``decisions`` -> ``decision_signals``
-> ``grid_signals``, and ``decisions.dr_event_id`` (or ``migrations.dr_event_id``) ->
``dr_events`` -> its transitions and samples.

Closed sets (kinds, phases, outcomes, actions, triggers) are plain strings held by CHECK
constraints built from ``orchestrator.ledger.vocab``. Every table and column carries a comment, so
``\\d+ <table>`` in psql explains the schema. Constraint and index names come from the metadata's
naming convention (``orchestrator.ledger.base``), which Alembic revisions repeat with ``op.f()``.
"""

from __future__ import annotations

from orchestrator.ledger.base import Base
from orchestrator.ledger.grid_models import DrEvent, DrEventSample, DrEventTransition, GridSignal
from orchestrator.ledger.move_models import Decision, DecisionSignal, Migration, MigrationPhase

__all__ = [
    "Base",
    "Decision",
    "DecisionSignal",
    "DrEvent",
    "DrEventSample",
    "DrEventTransition",
    "GridSignal",
    "Migration",
    "MigrationPhase",
]

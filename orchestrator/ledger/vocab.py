"""The closed sets and bounds the ledger stores, in one place.

The tables keep phase names, outcomes and kinds as plain strings with CHECK constraints built from
these tuples, and the repository refuses anything outside them before it reaches PostgreSQL. The
first Alembic revision spells the same values out literally: a revision is a frozen snapshot, so
changing a set here needs a new revision (autogenerate does not compare CHECK constraints; the
schema tests do).
"""

from __future__ import annotations

from typing import Final, TypeAlias

from orchestrator.api.migration import PHASES, TRIGGERS

JsonValue: TypeAlias = "str | int | float | bool | list[JsonValue] | dict[str, JsonValue] | None"
"""A value that JSON (and so JSONB) can hold."""

SIGNAL_KINDS: Final = ("price", "peak_level", "dr_event", "carbon_intensity", "green_ratio")
DR_EVENT_KINDS: Final = ("shed", "import_cap")
DR_EVENT_STATES: Final = ("Scheduled", "Active", "Met", "Missed", "Ended", "Cancelled")
DR_EVENT_OUTCOMES: Final = ("Met", "Missed")
DR_EVENT_FINAL_STATES: Final = ("Ended", "Cancelled")
DR_REPORT_STATES: Final = ("Sent", "Refused")
DECISION_ACTIONS: Final = ("move", "hold", "return_home")
MIGRATION_TRIGGERS: Final = TRIGGERS
MIGRATION_PHASES: Final = PHASES
MIGRATION_OUTCOMES: Final = ("Completed", "RolledBack", "Failed")
CANDIDATE_TERMS: Final = ("energy_cost", "peak", "green", "latency", "capacity")

# String bounds, in characters. Kubernetes names: a namespace or cluster name is a DNS label
# (63), an object name a DNS subdomain (253).
SOURCE_MAX: Final = 253
EXTERNAL_ID_MAX: Final = 253
ZONE_MAX: Final = 63
UNIT_MAX: Final = 32
NAMESPACE_MAX: Final = 63
NAME_MAX: Final = 253
CLUSTER_MAX: Final = 63
PLAN_ID_MAX: Final = 253
REASON_MAX: Final = 2000
MESSAGE_MAX: Final = 32768
LABEL_MAX: Final = 32  # a label from a closed set: kind, state, phase, action, trigger

# Other bounds.
PAYLOAD_MAX_BYTES: Final = 65536
CANDIDATES_MAX: Final = 64
DEADLINE_SECONDS_MAX: Final = 7 * 24 * 3600
REPLICAS_MAX: Final = 100_000
HISTORY_LIMIT_MAX: Final = 10_000

# Numeric(precision, scale) of the measured quantities.
SIGNAL_VALUE_DIGITS: Final = (18, 6)
KW_DIGITS: Final = (14, 3)

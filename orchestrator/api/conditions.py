"""Condition types and reasons, and the one function that sets a condition (STYLE.md rule 4).

Every condition gridshift writes, and the reason of every Kubernetes Event it posts, is named
here as a CamelCase constant, so a reason a user reads in ``kubectl describe`` is found in one
place. :func:`set_condition` is the only builder of conditions in status: its
``lastTransitionTime`` moves only when the condition's status does.

Migration (``status.conditions``): ``Progressing`` is True while the move runs and False once it
ended, with the reason it ended; ``Succeeded`` says whether it Completed; ``LedgerRecorded``
is True once the ledger holds the move (the finalizer waits for it).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final, Literal

from orchestrator.api.common import Condition

ConditionStatus = Literal["True", "False", "Unknown"]

# -- Migration: condition types ----------------------------------------------------------------
PROGRESSING: Final = "Progressing"
SUCCEEDED: Final = "Succeeded"
LEDGER_RECORDED: Final = "LedgerRecorded"

# -- Migration: reasons of its conditions (the state machine's steps) --------------------------
ACCEPTED: Final = "Accepted"
PREFLIGHT_PASSED: Final = "PreflightPassed"
PROVISIONED: Final = "Provisioned"
TARGET_READY: Final = "TargetReady"
TARGET_NOT_READY: Final = "TargetNotReady"
TRAFFIC_SHIFTING: Final = "TrafficShifting"
TRAFFIC_SHIFTED: Final = "TrafficShifted"
DRAINED: Final = "Drained"
NO_REQUESTS_IN_FLIGHT: Final = "NoRequestsInFlight"
TARGET_NOT_ANSWERING: Final = "TargetNotAnswering"
COMPLETED: Final = "Completed"
ROLLING_BACK: Final = "RollingBack"
ROLLED_BACK: Final = "RolledBack"
TARGET_CLEANUP: Final = "TargetCleanup"
RECORDED: Final = "Recorded"
# why a move fails or rolls back; each message says what to do
CANCELLED: Final = "Cancelled"
DEADLINE_EXCEEDED: Final = "DeadlineExceeded"
TARGET_UNREACHABLE: Final = "TargetUnreachable"
TRAFFIC_NOT_PROGRAMMED: Final = "TrafficNotProgrammed"
TARGET_UNKNOWN: Final = "TargetUnknown"
TARGET_CORDONED: Final = "TargetCordoned"
TARGET_AT_PEAK: Final = "TargetAtPeak"
INSUFFICIENT_GPUS: Final = "InsufficientGPUs"
DRY_RUN_REJECTED: Final = "DryRunRejected"
WORKLOAD_NOT_FOUND: Final = "WorkloadNotFound"
ANOTHER_MIGRATION_ACTIVE: Final = "AnotherMigrationActive"
NOT_IN_SOURCE_CLUSTER: Final = "NotInSourceCluster"
UNKNOWN_PHASE: Final = "UnknownPhase"

# -- Migration and InferenceWorkload: Kubernetes Event reasons (besides the ones above) --------
MIGRATION_STARTED: Final = "MigrationStarted"
MIGRATION_COMPLETED: Final = "MigrationCompleted"
FAILED: Final = "Failed"
DEADLINE_MISSED: Final = "DeadlineMissed"
MOVED: Final = "Moved"
RETURNED_HOME: Final = "ReturnedHome"
PLACED: Final = "Placed"

# -- MemberCluster --------------------------------------------------------------------------
REACHABLE: Final = "Reachable"
PROBED: Final = "Probed"
PROBE_FAILED: Final = "ProbeFailed"

# -- DemandResponseEvent --------------------------------------------------------------------
TARGET_MET: Final = "TargetMet"
NOT_IN_FORCE: Final = "NotInForce"
RESPONDING: Final = "Responding"
MET: Final = "Met"
MISSED: Final = "Missed"
CANCELLED_BY_SOURCE: Final = "CancelledBySource"
"""Reason of the ``Cancelled`` condition (its type is the state's name)."""
REPORTED: Final = "Reported"
"""Whether the outcome reached the grid operator's VTN."""
REPORT_SENT: Final = "ReportSent"
REPORT_REFUSED: Final = "ReportRefused"


def set_condition(
    conditions: Sequence[Condition],
    *,
    kind: str,
    status: ConditionStatus,
    reason: str,
    message: str,
    now: datetime,
) -> list[Condition]:
    """The conditions with ``kind`` set; lastTransitionTime moves only when the status does."""
    kept = [c for c in conditions if c.type != kind]
    old = next((c for c in conditions if c.type == kind), None)
    since = old.last_transition_time if old is not None and old.status == status else now
    new = Condition(
        type=kind, status=status, reason=reason, message=message[:4096], last_transition_time=since
    )
    return [*kept, new]

"""From an authenticated request to signals in the ledger: the webhook's work, minus HTTP.

:class:`Ingestor` turns a native batch or an OpenADR notification into normalized signals for
known zones, records them in one ledger transaction (idempotent by source, external id and
interval start) and only then reports them to ``on_recorded``, which the service uses to
process them at once. If the process dies after the commit, the rows are still unprocessed
(``processed_at IS NULL``) and the next reconcile takes them up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import ValidationError

from orchestrator.errors import LedgerInputError, SignalError
from orchestrator.ledger.handle import Ledger
from orchestrator.ledger.records import SignalInput
from orchestrator.signals.auth import TokenStore, authenticate
from orchestrator.signals.directory import ZoneDirectory
from orchestrator.signals.model import Signal
from orchestrator.signals.native import SignalBatch, to_signal
from orchestrator.signals.openadr import (
    describe_validation,
    flatten_targets,
    normalize_operation,
    parse_event,
    parse_notification,
)
from orchestrator.signals.openadr_map import event_signals

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Recorded = Callable[[Collection[str], datetime], None]


def ledger_input(signal: Signal) -> SignalInput:
    """The ledger row of ``signal``: its columns, and the whole signal as the payload."""
    return SignalInput(
        source=signal.source,
        external_id=signal.external_id,
        zone=signal.zone,
        kind=signal.kind,
        interval_start=signal.start,
        interval_end=signal.end,
        value=signal.value,
        unit=signal.unit,
        payload=signal.to_json(),
    )


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one request did."""

    accepted: int
    duplicates: int
    ignored: int = 0


class Ingestor:
    """Authenticates, normalizes and records signals; shared by both webhook endpoints."""

    def __init__(
        self,
        *,
        ledger: Ledger,
        zones: ZoneDirectory,
        tokens: TokenStore,
        clock: Clock,
        replay_window_seconds: int = 300,
        horizon: timedelta = timedelta(days=2),
        on_recorded: Recorded | None = None,
    ) -> None:
        self.ledger = ledger
        self.zones = zones
        self.tokens = tokens
        self.clock = clock
        self.replay_window_seconds = replay_window_seconds
        self.horizon = horizon
        self.on_recorded = on_recorded

    def operator(
        self,
        *,
        authorization: str | None,
        body: bytes,
        timestamp: str | None,
        signature: str | None,
    ) -> str:
        """The grid operator that sent the request; ``AuthError`` when it is none."""
        return authenticate(
            authorization=authorization,
            body=body,
            timestamp=timestamp,
            signature=signature,
            operators=self.tokens.snapshot(),
            now=self.clock(),
            window_seconds=self.replay_window_seconds,
        )

    def native(self, operator: str, document: object) -> Outcome:
        """Record a native batch (decoded JSON); ``SignalError`` names what is wrong."""
        try:
            batch = SignalBatch.model_validate(document)
        except ValidationError as exc:
            raise SignalError(describe_validation(exc, prefix="body")) from exc
        source = f"native:{operator}"
        try:
            signals = [
                to_signal(
                    entry, source=source, zone=self.zones.resolve(entry.zone, operator=operator)
                )
                for entry in batch.signals
            ]
        except OverflowError as exc:
            raise SignalError(f"a time in the batch is outside the calendar: {exc}") from exc
        return self._record(signals)

    def openadr(self, operator: str, document: object) -> Outcome:
        """Record an OpenADR notification (decoded JSON); non-EVENT objects are ignored."""
        notification = parse_notification(document)
        operation = normalize_operation(notification.operation)
        if notification.object_type.upper() != "EVENT" or operation == "READ":
            log.info(
                "ignored OpenADR notification operator=%s object=%s operation=%s",
                operator,
                notification.object_type,
                operation,
            )
            return Outcome(accepted=0, duplicates=0, ignored=1)
        event = parse_event(notification.object)
        targets = event.target_names() or flatten_targets(notification.targets)
        zones = self.zones.for_openadr(targets, event.program_id, operator=operator)
        now = self.clock()
        try:
            signals = event_signals(
                event,
                operation=operation,
                source=f"openadr:{operator}",
                zones=zones,
                now=now,
                horizon=now + self.horizon,
            )
        except OverflowError as exc:
            raise SignalError(f"a time in the event is outside the calendar: {exc}") from exc
        if not signals:
            return Outcome(accepted=0, duplicates=0, ignored=1)
        return self._record(signals)

    def record(self, signals: Sequence[Signal]) -> Outcome:
        """Record signals a poller produced."""
        return self._record(signals)

    def _record(self, signals: Sequence[Signal]) -> Outcome:
        try:
            results = self.ledger.record_signals([ledger_input(s) for s in signals])
        except LedgerInputError as exc:
            raise SignalError(f"the ledger refused a signal: {exc}") from exc
        created = sum(1 for _, new in results if new)
        if self.on_recorded is not None and signals:
            self.on_recorded({s.zone for s in signals}, self.clock())
        return Outcome(accepted=created, duplicates=len(results) - created)

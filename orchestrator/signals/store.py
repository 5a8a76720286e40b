"""The ledger as the signals package sees it: a port, filled by ``orchestrator.ledger.repository``.

The import contracts keep SQLAlchemy out of this package, even indirectly, so the signals code
never imports the ledger. It is given the ledger's repository module and a session factory
instead, and reaches them only through the protocols below, which the module satisfies
structurally (mypy checks it at the call that wires them)::

    from orchestrator.ledger import repository
    from orchestrator.ledger.db import make_engine, session_factory

    store = LedgerStore(repository, session_factory(make_engine(url)))

Every method is synchronous, opens one transaction and commits it; async callers use
``asyncio.to_thread``. Database failures leave as ``LedgerError``; values the ledger refuses
leave as ``SignalError``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Generic, Protocol, TypeVar

from orchestrator.errors import SignalError
from orchestrator.signals.model import DrOrder, JsonValue, Signal, StoredSignal

S = TypeVar("S")
S_co = TypeVar("S_co", covariant=True)
S_contra = TypeVar("S_contra", contravariant=True)
PAGE = 10_000
MAX_PAGES = 20
OPEN_STATES = ("Scheduled", "Active")


class SignalRow(Protocol):
    """A row of ``grid_signals`` (``orchestrator.ledger.records.SignalRecord``)."""

    @property
    def id(self) -> int: ...
    @property
    def payload(self) -> Mapping[str, JsonValue]: ...
    @property
    def interval_start(self) -> datetime: ...
    @property
    def received_at(self) -> datetime: ...
    @property
    def processed_at(self) -> datetime | None: ...


class DrEventRow(Protocol):
    """A row of ``dr_events`` (``orchestrator.ledger.records.DrEventRecord``)."""

    @property
    def id(self) -> int: ...
    @property
    def external_id(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def k8s_name(self) -> str | None: ...
    @property
    def window_start(self) -> datetime: ...
    @property
    def window_end(self) -> datetime | None: ...


class SessionFactory(Protocol[S_co]):
    """``sqlalchemy.orm.sessionmaker``: ``begin()`` opens a session in a transaction."""

    def begin(self) -> AbstractContextManager[S_co]: ...


class Repository(Protocol[S_contra]):
    """The functions of ``orchestrator.ledger.repository`` this package calls."""

    def record_signal(
        self,
        session: S_contra,
        *,
        source: str,
        external_id: str,
        zone: str,
        kind: str,
        interval_start: datetime,
        interval_end: datetime | None,
        value: float | None,
        unit: str,
        payload: Mapping[str, JsonValue],
    ) -> tuple[int, bool]: ...

    def signal_history(
        self,
        session: S_contra,
        *,
        zone: str,
        since: datetime,
        until: datetime,
        kind: str | None = ...,
        limit: int = ...,
    ) -> Sequence[SignalRow]: ...

    def mark_signal_processed(
        self, session: S_contra, *, signal_id: int, processed_at: datetime
    ) -> None: ...

    def upsert_dr_event(
        self,
        session: S_contra,
        *,
        source: str,
        external_id: str,
        zone: str,
        kind: str,
        target_kw: float,
        window_start: datetime,
        window_end: datetime | None,
        response_deadline_seconds: int,
        k8s_name: str | None = ...,
    ) -> tuple[int, bool]: ...

    def set_dr_event_state(
        self,
        session: S_contra,
        *,
        event_id: int,
        state: str,
        achieved_kw: Decimal | float | None = ...,
        responded_at: datetime | None = ...,
        k8s_name: str | None = ...,
    ) -> DrEventRow: ...

    def get_dr_event(
        self, session: S_contra, *, source: str, external_id: str
    ) -> DrEventRow | None: ...

    def dr_events_for_zone(
        self,
        session: S_contra,
        *,
        zone: str,
        since: datetime | None = ...,
        until: datetime | None = ...,
        states: Collection[str] | None = ...,
        limit: int = ...,
    ) -> Sequence[DrEventRow]: ...


@dataclass(frozen=True, slots=True)
class DrEventState:
    """A DR event as the ledger holds it."""

    id: int
    external_id: str
    state: str
    k8s_name: str | None
    window_start: datetime
    window_end: datetime | None

    @classmethod
    def of(cls, row: DrEventRow) -> DrEventState:
        """A copy of ``row``."""
        return cls(
            row.id, row.external_id, row.state, row.k8s_name, row.window_start, row.window_end
        )


class LedgerStore(Generic[S]):
    """Signals and DR events in the ledger, one transaction per call."""

    def __init__(self, repository: Repository[S], sessions: SessionFactory[S]) -> None:
        self._repo = repository
        self._sessions = sessions

    def record(self, signals: Sequence[Signal]) -> list[tuple[int, bool]]:
        """Record ``signals`` in one transaction: (row id, created) of each, all or none."""
        results = []
        try:
            with self._sessions.begin() as session:
                for signal in signals:
                    results.append(
                        self._repo.record_signal(
                            session,
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
                    )
        except ValueError as exc:
            raise SignalError(f"the ledger refused a signal: {exc}") from exc
        return results

    def zone_signals(self, zone: str, *, since: datetime, until: datetime) -> list[StoredSignal]:
        """The zone's signals whose interval starts in ``[since, until)``, oldest first."""
        seen: dict[int, StoredSignal] = {}
        cursor = since
        with self._sessions.begin() as session:
            for _ in range(MAX_PAGES):
                rows = self._repo.signal_history(
                    session, zone=zone, since=cursor, until=until, limit=PAGE
                )
                fresh = [r for r in rows if r.id not in seen]
                for row in fresh:
                    seen[row.id] = _stored(row)
                if len(rows) < PAGE or not fresh:
                    break
                cursor = rows[-1].interval_start
        return sorted(seen.values(), key=lambda s: (s.signal.start, s.id))

    def mark_processed(self, ids: Collection[int], *, at: datetime) -> None:
        """Note that the signals ``ids`` were turned into zone state."""
        if not ids:
            return
        with self._sessions.begin() as session:
            for signal_id in sorted(ids):
                self._repo.mark_signal_processed(session, signal_id=signal_id, processed_at=at)

    def apply_order(
        self, *, source: str, zone: str, order: DrOrder, k8s_name: str
    ) -> DrEventState | None:
        """Record (or revise) the DR event of ``order``; a cancelled one becomes Cancelled.

        None when ``order`` cancels an event the ledger never recorded. A cancelled event stays
        cancelled: a later revision of the same event id does not revive it.
        """
        key = dr_event_key(zone, order.event_id)
        with self._sessions.begin() as session:
            found = self._repo.get_dr_event(session, source=source, external_id=key)
            if order.cancelled:
                if found is None or found.state == "Cancelled":
                    return None if found is None else DrEventState.of(found)
                return DrEventState.of(
                    self._repo.set_dr_event_state(session, event_id=found.id, state="Cancelled")
                )
            if found is not None and found.state == "Cancelled":
                return DrEventState.of(found)
            event_id, _ = self._repo.upsert_dr_event(
                session,
                source=source,
                external_id=key,
                zone=zone,
                kind=order.kind,
                target_kw=order.kw,
                window_start=order.window_start,
                window_end=order.window_end,
                response_deadline_seconds=order.deadline_seconds,
                k8s_name=k8s_name,
            )
            row = self._repo.get_dr_event(session, source=source, external_id=key)
        if row is None:
            raise SignalError(f"DR event {event_id} vanished while it was recorded")
        return DrEventState.of(row)

    def open_events(self, zone: str) -> list[DrEventState]:
        """The zone's DR events still Scheduled or Active."""
        with self._sessions.begin() as session:
            rows = self._repo.dr_events_for_zone(session, zone=zone, states=OPEN_STATES, limit=500)
            return [DrEventState.of(r) for r in rows]


def dr_event_key(zone: str, event_id: str) -> str:
    """The ledger's external id of a DR event: one per zone an event names, at most 253 chars."""
    key = f"{zone}/{event_id}"
    if len(key) <= 253:
        return key
    return f"{zone}/sha-{hashlib.sha256(event_id.encode()).hexdigest()[:40]}"


def _stored(row: SignalRow) -> StoredSignal:
    return StoredSignal(
        id=row.id,
        signal=Signal.from_json(dict(row.payload)),
        received_at=row.received_at,
        processed_at=row.processed_at,
    )

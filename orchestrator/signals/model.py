"""Normalized grid signals: what every entry point produces and the ledger stores.

Every way a signal enters (native webhook, OpenADR notification or poll, a price feed) ends as a
list of :class:`Signal`. A signal covers one interval of one zone and carries one value. Demand-
response orders ride along as ``kind="dr_event"`` signals with a :class:`DrOrder`; the processor
turns them into DemandResponseEvent objects. ``Signal.to_json`` is the ledger row's payload and
``Signal.from_json`` reads it back, so the processor can rebuild every signal from the ledger
alone after a restart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, TypeAlias, get_args

from orchestrator.errors import SignalError
from orchestrator.ledger.records import SignalRecord

JsonValue: TypeAlias = "str | int | float | bool | list[JsonValue] | dict[str, JsonValue] | None"
SignalKind = Literal["price", "peak_level", "dr_event", "carbon_intensity", "green_ratio"]
DrKind = Literal["shed", "import_cap"]
SourceKind = Literal["OpenADR", "Native", "Manual"]

SIGNAL_KINDS: tuple[str, ...] = get_args(SignalKind)
DEFAULT_DEADLINE_SECONDS = 180
MAX_PRIORITY = 1000
EXTERNAL_ID_MAX = 253
SOURCE_MAX = 253
UNIT_MAX = 32
VALUE_LIMIT = 1e12
"""Magnitude every stored value must stay under (the ledger keeps 12 integer digits)."""


@dataclass(frozen=True, slots=True)
class DrOrder:
    """A demand-response order: shed ``kw`` (or stay under an import cap of ``kw``) in a window."""

    event_id: str
    kind: DrKind
    kw: float
    window_start: datetime
    window_end: datetime | None
    deadline_seconds: int = DEFAULT_DEADLINE_SECONDS
    priority: int = 0
    source_kind: SourceKind = "Native"
    program: str | None = None
    issuer: str | None = None
    cancelled: bool = False

    def to_json(self) -> dict[str, JsonValue]:
        """The order as JSON (part of a signal's ledger payload)."""
        return {
            "eventID": self.event_id,
            "kind": self.kind,
            "kw": self.kw,
            "windowStart": self.window_start.isoformat(),
            "windowEnd": None if self.window_end is None else self.window_end.isoformat(),
            "deadlineSeconds": self.deadline_seconds,
            "priority": self.priority,
            "sourceKind": self.source_kind,
            "program": self.program,
            "issuer": self.issuer,
            "cancelled": self.cancelled,
        }

    @classmethod
    def from_json(cls, data: dict[str, JsonValue]) -> DrOrder:
        """Read an order written by :meth:`to_json`."""
        kind = _text(data, "kind")
        source_kind = _text(data, "sourceKind")
        if kind not in ("shed", "import_cap") or source_kind not in ("OpenADR", "Native", "Manual"):
            raise SignalError(f"stored DR order has kind {kind!r} and source {source_kind!r}")
        return cls(
            event_id=_text(data, "eventID"),
            kind=kind,  # type: ignore[arg-type]  # checked just above
            kw=_number(data, "kw"),
            window_start=_time(data, "windowStart"),
            window_end=_optional_time(data, "windowEnd"),
            deadline_seconds=int(_number(data, "deadlineSeconds")),
            priority=int(_number(data, "priority")),
            source_kind=source_kind,  # type: ignore[arg-type]  # checked just above
            program=_optional_text(data, "program"),
            issuer=_optional_text(data, "issuer"),
            cancelled=bool(data.get("cancelled", False)),
        )


@dataclass(frozen=True, slots=True)
class Signal:
    """One normalized signal: a value for one zone over ``[start, end)``; ``end=None`` is open.

    ``event`` groups the signals of one source event and ``revision`` orders its versions: the
    processor uses only the newest revision of each event. ``priority`` follows OpenADR (lower
    wins).
    """

    source: str
    external_id: str
    zone: str
    kind: SignalKind
    start: datetime
    end: datetime | None
    value: float | None
    unit: str
    priority: int = 0
    event: str = ""
    revision: str = ""
    order: DrOrder | None = None
    extra: dict[str, JsonValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or (self.end is not None and self.end.tzinfo is None):
            raise SignalError(f"signal {self.external_id}: times must carry a timezone")
        if self.end is not None and self.end <= self.start:
            raise SignalError(f"signal {self.external_id}: end must be after start")
        if self.value is not None and not (
            math.isfinite(self.value) and abs(self.value) < VALUE_LIMIT
        ):
            raise SignalError(f"signal {self.external_id}: value {self.value} is out of range")
        if (
            not 0 < len(self.external_id) <= EXTERNAL_ID_MAX
            or not 0 < len(self.source) <= SOURCE_MAX
        ):
            raise SignalError("a signal needs a source and an external id of at most 253 chars")
        if len(self.unit) > UNIT_MAX:
            raise SignalError(f"signal {self.external_id}: unit {self.unit[:40]!r} is too long")
        if (self.kind == "dr_event") != (self.order is not None):
            raise SignalError(f"signal {self.external_id}: a DR order needs kind dr_event")
        texts = [self.source, self.external_id, self.zone, self.unit, self.event, self.revision]
        if self.order is not None:
            texts += [self.order.event_id, self.order.program or "", self.order.issuer or ""]
        texts += [v for v in self.extra.values() if isinstance(v, str)]
        for text in texts:
            storable(text)

    def covers(self, when: datetime) -> bool:
        """Whether ``when`` falls in ``[start, end)``."""
        return self.start <= when and (self.end is None or when < self.end)

    def to_json(self) -> dict[str, JsonValue]:
        """The whole signal as JSON: the ledger row's payload."""
        return {
            "source": self.source,
            "externalID": self.external_id,
            "zone": self.zone,
            "kind": self.kind,
            "start": self.start.isoformat(),
            "end": None if self.end is None else self.end.isoformat(),
            "value": self.value,
            "unit": self.unit,
            "priority": self.priority,
            "event": self.event,
            "revision": self.revision,
            "order": None if self.order is None else self.order.to_json(),
            "extra": dict(self.extra),
        }

    @classmethod
    def from_json(cls, data: dict[str, JsonValue]) -> Signal:
        """Read a signal written by :meth:`to_json`; ``SignalError`` when it is not one."""
        kind = _text(data, "kind")
        if kind not in SIGNAL_KINDS:
            raise SignalError(f"stored signal has unknown kind {kind!r}")
        order = data.get("order")
        extra = data.get("extra")
        value = data.get("value")
        return cls(
            source=_text(data, "source"),
            external_id=_text(data, "externalID"),
            zone=_text(data, "zone"),
            kind=kind,  # type: ignore[arg-type]  # checked just above
            start=_time(data, "start"),
            end=_optional_time(data, "end"),
            value=None if value is None else _number(data, "value"),
            unit=_text(data, "unit"),
            priority=int(_number(data, "priority")),
            event=_text(data, "event", allow_empty=True),
            revision=_text(data, "revision", allow_empty=True),
            order=DrOrder.from_json(order) if isinstance(order, dict) else None,
            extra=extra if isinstance(extra, dict) else {},
        )


@dataclass(frozen=True, slots=True)
class StoredSignal:
    """A signal as the ledger holds it: its row id and when it was received and processed."""

    id: int
    signal: Signal
    received_at: datetime
    processed_at: datetime | None

    @classmethod
    def of(cls, row: SignalRecord) -> StoredSignal:
        """A ledger row as the signal it holds (its payload is :meth:`Signal.to_json`)."""
        return cls(
            id=row.id,
            signal=Signal.from_json(dict(row.payload)),
            received_at=row.received_at,
            processed_at=row.processed_at,
        )


def storable(text: str) -> str:
    """``text`` if PostgreSQL can store it: UTF-8 encodable, without NUL; else SignalError."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise SignalError(f"text {text[:40]!r} is not valid Unicode") from exc
    if "\x00" in text:
        raise SignalError(f"text {text[:40]!r} contains a NUL character")
    return text


def _text(data: dict[str, JsonValue], key: str, *, allow_empty: bool = False) -> str:
    value = data.get(key)
    if not isinstance(value, str) or (not value and not allow_empty):
        raise SignalError(f"stored signal field {key!r} is not a string")
    return value


def _optional_text(data: dict[str, JsonValue], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) else None


def _number(data: dict[str, JsonValue], key: str) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SignalError(f"stored signal field {key!r} is not a number")
    return float(value)


def _time(data: dict[str, JsonValue], key: str) -> datetime:
    try:
        return datetime.fromisoformat(_text(data, key))
    except ValueError as exc:
        raise SignalError(f"stored signal field {key!r} is not a time") from exc


def _optional_time(data: dict[str, JsonValue], key: str) -> datetime | None:
    return None if data.get(key) is None else _time(data, key)

"""Checks on what the repository accepts, run before any SQL is sent.

Each check returns the value it accepted (normalized where that is safe: a float becomes the
``Decimal`` of its shortest repr, a uid string becomes a ``UUID``) or raises ``LedgerInputError``
naming the argument, the bound and what was given. Bad input is the caller's bug, not a database
failure: ``LedgerInputError`` is also a ``ValueError``, and repeating the call never helps. The
functions are pure.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation

from orchestrator.errors import LedgerInputError
from orchestrator.ledger.vocab import JsonValue

_SHOWN = 60


def _show(value: object) -> str:
    """A short repr of ``value`` for an error message."""
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def text(name: str, value: object, *, max_len: int, allow_empty: bool = False) -> str:
    """A string of at most ``max_len`` characters with no NUL (PostgreSQL refuses it).

    It must not be empty unless ``allow_empty``.
    """
    if not isinstance(value, str):
        raise LedgerInputError(f"{name} must be a string, got {type(value).__name__}")
    if not value and not allow_empty:
        raise LedgerInputError(f"{name} must not be empty")
    if len(value) > max_len:
        raise LedgerInputError(f"{name} must be at most {max_len} characters, got {len(value)}")
    if "\x00" in value:
        raise LedgerInputError(f"{name} must not contain NUL characters")
    return value


def optional_text(name: str, value: object, *, max_len: int) -> str | None:
    """Like ``text``, or ``None``."""
    return None if value is None else text(name, value, max_len=max_len)


def one_of(name: str, value: object, allowed: Collection[str]) -> str:
    """``value`` if it is one of ``allowed``."""
    if not isinstance(value, str) or value not in allowed:
        raise LedgerInputError(f"{name} must be one of {', '.join(allowed)}; got {_show(value)}")
    return value


def aware(name: str, value: object) -> datetime:
    """A timezone-aware datetime (the ledger stores ``timestamptz`` and never guesses a zone)."""
    if not isinstance(value, datetime):
        raise LedgerInputError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise LedgerInputError(f"{name} must be timezone-aware, got naive {value.isoformat()}")
    return value


def optional_aware(name: str, value: object) -> datetime | None:
    """Like ``aware``, or ``None``."""
    return None if value is None else aware(name, value)


def ordered(start_name: str, start: datetime, end_name: str, end: datetime | None) -> None:
    """Refuse an ``end`` that is not after ``start`` (``None`` is open-ended and fine)."""
    if end is not None and end <= start:
        raise LedgerInputError(
            f"{end_name} ({end.isoformat()}) must be after {start_name} ({start.isoformat()})"
        )


def not_before(start_name: str, start: datetime, end_name: str, end: datetime | None) -> None:
    """Refuse an ``end`` earlier than ``start``."""
    if end is not None and end < start:
        raise LedgerInputError(
            f"{end_name} ({end.isoformat()}) must not be before {start_name} ({start.isoformat()})"
        )


def decimal(
    name: str, value: object, *, digits: tuple[int, int], minimum: Decimal | None = None
) -> Decimal:
    """A finite number that fits ``Numeric(precision, scale)``, as a ``Decimal``."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int | float):
        raise LedgerInputError(f"{name} must be a number, got {type(value).__name__}")
    try:
        number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation as exc:
        raise LedgerInputError(f"{name} must be a number, got {_show(value)}") from exc
    if not number.is_finite():
        raise LedgerInputError(f"{name} must be finite, got {number}")
    precision, scale = digits
    limit = Decimal(10) ** (precision - scale)
    if abs(number) >= limit:
        raise LedgerInputError(f"{name} must be less than {limit} in magnitude, got {number}")
    if minimum is not None and number < minimum:
        raise LedgerInputError(f"{name} must be at least {minimum}, got {number}")
    return number


def optional_decimal(
    name: str, value: object, *, digits: tuple[int, int], minimum: Decimal | None = None
) -> Decimal | None:
    """Like ``decimal``, or ``None``."""
    return None if value is None else decimal(name, value, digits=digits, minimum=minimum)


def positive(name: str, value: Decimal) -> Decimal:
    """``value`` if it is greater than zero."""
    if value <= 0:
        raise LedgerInputError(f"{name} must be positive, got {value}")
    return value


def integer(name: str, value: object, *, minimum: int, maximum: int) -> int:
    """An ``int`` (not a ``bool``) within ``[minimum, maximum]``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise LedgerInputError(f"{name} must be an integer, got {type(value).__name__}")
    if not minimum <= value <= maximum:
        raise LedgerInputError(f"{name} must be between {minimum} and {maximum}, got {value}")
    return value


def finite(name: str, value: object) -> float:
    """A finite ``float`` (an ``int`` is accepted and converted)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise LedgerInputError(f"{name} must be a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise LedgerInputError(f"{name} must be finite, got {value}")
    return float(value)


def uid(name: str, value: object) -> uuid.UUID:
    """A Kubernetes uid, given as a ``UUID`` or its string form."""
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, str):
        try:
            return uuid.UUID(value)
        except ValueError as exc:
            raise LedgerInputError(f"{name} must be a UUID, got {_show(value)}") from exc
    raise LedgerInputError(f"{name} must be a UUID, got {type(value).__name__}")


def optional_uid(name: str, value: object) -> uuid.UUID | None:
    """Like ``uid``, or ``None``."""
    return None if value is None else uid(name, value)


def json_object(name: str, value: object, *, max_bytes: int) -> dict[str, JsonValue]:
    """A JSON object PostgreSQL's JSONB will take, at most ``max_bytes`` once encoded."""
    if not isinstance(value, Mapping):
        raise LedgerInputError(f"{name} must be a JSON object, got {type(value).__name__}")
    try:
        encoded = json.dumps(value, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise LedgerInputError(f"{name} is not representable as JSON: {exc}") from exc
    size = len(encoded.encode())
    if size > max_bytes:
        raise LedgerInputError(f"{name} must be at most {max_bytes} bytes as JSON, got {size}")
    decoded: dict[str, JsonValue] = json.loads(encoded)
    if _has_nul(decoded):
        raise LedgerInputError(f"{name} must not contain NUL characters (JSONB refuses them)")
    return decoded


def _has_nul(value: JsonValue) -> bool:
    """Whether a NUL character hides in any string or key of ``value``."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    if isinstance(value, dict):
        return any("\x00" in key or _has_nul(item) for key, item in value.items())
    return False


def sequence(name: str, value: object, *, max_items: int) -> Sequence[object]:
    """A list or tuple of at most ``max_items`` items."""
    if not isinstance(value, list | tuple):
        raise LedgerInputError(f"{name} must be a list, got {type(value).__name__}")
    if len(value) > max_items:
        raise LedgerInputError(f"{name} must have at most {max_items} items, got {len(value)}")
    return value


def limit(value: object, *, maximum: int) -> int:
    """A result-size limit between 1 and ``maximum``."""
    return integer("limit", value, minimum=1, maximum=maximum)


def time_range(since: datetime | None, until: datetime | None) -> None:
    """Refuse naive bounds, and a range whose ``until`` is not after ``since``."""
    optional_aware("since", since)
    optional_aware("until", until)
    if since is not None and until is not None:
        ordered("since", since, "until", until)

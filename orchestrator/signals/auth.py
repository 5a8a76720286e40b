"""Who may send signals: bearer tokens per grid operator, optional HMAC signatures, replay window.

Each grid operator has a bearer token, kept in a Kubernetes Secret (``webhook_token_secret``):
the key is the operator's name, the value its token. An operator whose Secret also holds
``<operator>.hmac`` must sign every request::

    X-Gridshift-Timestamp: <unix seconds>
    X-Gridshift-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>" under the key>

A signature is accepted only while the timestamp is within the replay window of our clock
(five minutes by default), so a captured request cannot be replayed later; inside the window,
the signals' idempotent ids make a replay harmless. Tokens and signatures are compared in
constant time. Every refusal is an :class:`AuthError` (answered with 401) whose message never
echoes a secret.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from orchestrator.errors import SignalError

TIMESTAMP_HEADER = "X-Gridshift-Timestamp"
SIGNATURE_HEADER = "X-Gridshift-Signature"
HMAC_SUFFIX = ".hmac"
_OPERATOR = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_UNIX_SECONDS = re.compile(r"[0-9]{1,12}", re.ASCII)
"""``str.isdigit`` also takes "²" and other digits ``int`` refuses: only ASCII digits count."""
_BEARER = re.compile(r"^Bearer +(?P<token>\S{1,4096}) *$", re.IGNORECASE)


class AuthError(SignalError):
    """The request is not from a known grid operator, or its signature does not hold."""


@dataclass(frozen=True, slots=True)
class Credentials:
    """One operator's bearer token and, when it signs its requests, its HMAC key."""

    token: bytes
    hmac_key: bytes | None = None


def credentials_from_secret(data: Mapping[str, str]) -> dict[str, Credentials]:
    """Operators from a Secret's decoded data: ``<name>`` = token, ``<name>.hmac`` = HMAC key.

    Keys that are not operator names, and empty tokens, are skipped; an HMAC key without a
    token is skipped too (the operator could never authenticate).
    """
    found: dict[str, Credentials] = {}
    for key, value in data.items():
        if key.endswith(HMAC_SUFFIX) or not _OPERATOR.match(key) or not value.strip():
            continue
        hmac_value = data.get(key + HMAC_SUFFIX, "").strip()
        found[key] = Credentials(
            token=value.strip().encode(), hmac_key=hmac_value.encode() if hmac_value else None
        )
    return found


class TokenStore:
    """The operators the webhook accepts; replaced whole when the Secret changes."""

    def __init__(self, operators: Mapping[str, Credentials] | None = None) -> None:
        self._lock = threading.Lock()
        self._operators: dict[str, Credentials] = dict(operators or {})

    def replace(self, operators: Mapping[str, Credentials]) -> None:
        """Use ``operators`` from now on."""
        with self._lock:
            self._operators = dict(operators)

    def snapshot(self) -> dict[str, Credentials]:
        """The operators now."""
        with self._lock:
            return dict(self._operators)


def operator_for(authorization: str | None, operators: Mapping[str, Credentials]) -> str:
    """The operator whose token the ``Authorization`` header carries; ``AuthError`` otherwise.

    Every known token is compared, in constant time, so the answer's timing does not reveal
    which operator (if any) a guess came close to.
    """
    if not authorization:
        raise AuthError("no bearer token: send Authorization: Bearer <token>")
    match = _BEARER.match(authorization)
    if match is None:
        raise AuthError("the Authorization header is not a bearer token")
    given = match.group("token").encode()
    found = None
    for name, credentials in sorted(operators.items()):
        if hmac.compare_digest(given, credentials.token) and found is None:
            found = name
    if found is None:
        raise AuthError("the bearer token is not one of a known grid operator")
    return found


def sign(body: bytes, *, key: bytes, timestamp: int) -> str:
    """The signature header value for ``body`` sent at ``timestamp`` (for senders and tests)."""
    digest = hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(
    body: bytes,
    *,
    key: bytes,
    timestamp: str | None,
    signature: str | None,
    now: datetime,
    window_seconds: int,
) -> None:
    """Check the body's HMAC and that it was signed within the replay window of ``now``."""
    if not timestamp or not signature:
        raise AuthError(
            f"this operator signs its requests: send {TIMESTAMP_HEADER} and {SIGNATURE_HEADER}"
        )
    if not _UNIX_SECONDS.fullmatch(timestamp):
        raise AuthError(f"{TIMESTAMP_HEADER} must be unix seconds (ASCII digits)")
    sent = int(timestamp)
    expected = sign(body, key=key, timestamp=sent)
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()[:128]):
        raise AuthError("the signature does not match the body")
    skew = abs(now.timestamp() - sent)
    if skew > window_seconds:
        raise AuthError(
            f"the signature is {skew:.0f} s away from our clock, outside the "
            f"{window_seconds} s replay window; sign each request when sending it"
        )


def authenticate(
    *,
    authorization: str | None,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    operators: Mapping[str, Credentials],
    now: datetime,
    window_seconds: int,
) -> str:
    """The operator that sent this request, after token and (if it signs) signature checks."""
    name = operator_for(authorization, operators)
    key = operators[name].hmac_key
    if key is not None:
        verify_signature(
            body,
            key=key,
            timestamp=timestamp,
            signature=signature,
            now=now,
            window_seconds=window_seconds,
        )
    return name

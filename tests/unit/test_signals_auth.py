"""Bearer tokens per grid operator, HMAC signatures and the replay window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.signals.auth import (
    AuthError,
    Credentials,
    authenticate,
    credentials_from_secret,
    sign,
)

NOW = datetime(2026, 7, 15, 4, 10, tzinfo=UTC)
OPERATORS = {
    "sgcc-sh": Credentials(token=b"token-sh"),
    "vtn-hb": Credentials(token=b"token-hb", hmac_key=b"key-hb"),
}
BODY = b'{"signals": []}'


def _auth(
    authorization: str | None,
    *,
    body: bytes = BODY,
    timestamp: str | None = None,
    signature: str | None = None,
    now: datetime = NOW,
) -> str:
    return authenticate(
        authorization=authorization,
        body=body,
        timestamp=timestamp,
        signature=signature,
        operators=OPERATORS,
        now=now,
        window_seconds=300,
    )


def _signed(body: bytes, at: datetime) -> tuple[str, str]:
    stamp = int(at.timestamp())
    return str(stamp), sign(body, key=b"key-hb", timestamp=stamp)


def test_known_token_names_its_operator() -> None:
    """A known bearer token authenticates as its operator."""
    assert _auth("Bearer token-sh") == "sgcc-sh"
    assert _auth("bearer   token-sh") == "sgcc-sh"


@pytest.mark.parametrize(
    "header", [None, "", "Basic dXNlcjpwYXNz", "Bearer", "Bearer wrong", "Bearer token-sh2"]
)
def test_missing_or_wrong_tokens_are_refused(header: str | None) -> None:
    """No token, another scheme, an empty or an unknown token is an AuthError."""
    with pytest.raises(AuthError):
        _auth(header)


def test_signing_operator_must_sign() -> None:
    """An operator with an HMAC key is refused without a signature."""
    with pytest.raises(AuthError, match="signs its requests"):
        _auth("Bearer token-hb")


def test_good_signature_is_accepted() -> None:
    """A signature over this body, made now, is accepted."""
    stamp, signature = _signed(BODY, NOW)
    assert _auth("Bearer token-hb", timestamp=stamp, signature=signature) == "vtn-hb"


def test_signature_over_another_body_is_refused() -> None:
    """A signature made for a different body is refused."""
    stamp, signature = _signed(b"{}", NOW)
    with pytest.raises(AuthError, match="does not match"):
        _auth("Bearer token-hb", timestamp=stamp, signature=signature)


def test_replayed_signature_outside_the_window_is_refused() -> None:
    """A correct signature made six minutes ago is a replay."""
    stamp, signature = _signed(BODY, NOW - timedelta(minutes=6))
    with pytest.raises(AuthError, match="replay window"):
        _auth("Bearer token-hb", timestamp=stamp, signature=signature)
    stamp, signature = _signed(BODY, NOW - timedelta(minutes=4))
    assert _auth("Bearer token-hb", timestamp=stamp, signature=signature) == "vtn-hb"


def test_timestamp_must_be_unix_seconds() -> None:
    """A timestamp that is not digits is refused."""
    _, signature = _signed(BODY, NOW)
    with pytest.raises(AuthError):
        _auth("Bearer token-hb", timestamp="2026-07-15", signature=signature)


def test_secret_data_becomes_operators() -> None:
    """Keys are operators, <name>.hmac their keys; junk keys and empty tokens are skipped."""
    found = credentials_from_secret(
        {
            "sgcc-sh": " t1 \n",
            "vtn-hb": "t2",
            "vtn-hb.hmac": "k2",
            "empty": " ",
            "bad key!": "x",
            "orphan.hmac": "k",
        }
    )
    assert found == {
        "sgcc-sh": Credentials(b"t1"),
        "vtn-hb": Credentials(b"t2", b"k2"),
    }


@given(body=st.binary(max_size=512), flip=st.integers(min_value=0, max_value=511))
def test_any_change_to_a_signed_body_breaks_the_signature(body: bytes, flip: int) -> None:
    """The signature holds for the body it was made over and fails for any one-byte change."""
    stamp, signature = _signed(body, NOW)
    assert _auth("Bearer token-hb", body=body, timestamp=stamp, signature=signature) == "vtn-hb"
    if body:
        index = flip % len(body)
        changed = body[:index] + bytes([body[index] ^ 0x01]) + body[index + 1 :]
        with pytest.raises(AuthError):
            _auth("Bearer token-hb", body=changed, timestamp=stamp, signature=signature)


@pytest.mark.parametrize(
    "stamp", ["\u00b2", "1\u0663", "\uff11\uff12", "123\n", " 123", "-5", "1" * 13]
)
def test_a_timestamp_of_non_ascii_digits_is_refused_as_auth_error(stamp: str) -> None:
    """ "²" and other Unicode digits pass ``str.isdigit`` but not ``int``: refused, not a crash."""
    with pytest.raises(AuthError, match="unix seconds"):
        _auth("Bearer token-hb", timestamp=stamp, signature="sha256=00")


@given(st.text(max_size=20))
def test_any_timestamp_header_is_either_checked_or_refused(stamp: str) -> None:
    """No timestamp header, whatever its characters, raises anything but AuthError."""
    with pytest.raises(AuthError):
        _auth("Bearer token-hb", timestamp=stamp, signature="sha256=00")

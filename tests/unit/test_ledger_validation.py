"""The ledger's input checks refuse bad values with messages that name the argument."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.errors import ConfigError
from orchestrator.ledger import validate, vocab
from orchestrator.ledger.db import make_engine, psycopg_url
from orchestrator.ledger.records import CandidateScore

T0 = datetime(2026, 7, 1, 12, tzinfo=UTC)
TERMS = dict.fromkeys(vocab.CANDIDATE_TERMS, 0.2)


def test_text_refuses_oversized_empty_nul_and_non_strings() -> None:
    """A string must be non-empty, within its bound, free of NUL, and a string at all."""
    assert validate.text("zone", "s" * 63, max_len=63) == "s" * 63
    with pytest.raises(ValueError, match="zone must be at most 63 characters, got 64"):
        validate.text("zone", "s" * 64, max_len=63)
    with pytest.raises(ValueError, match="zone must not be empty"):
        validate.text("zone", "", max_len=63)
    assert validate.text("reason", "", max_len=63, allow_empty=True) == ""
    with pytest.raises(ValueError, match="zone must not contain NUL"):
        validate.text("zone", "sh\x00", max_len=63)
    with pytest.raises(ValueError, match="zone must be a string, got int"):
        validate.text("zone", 7, max_len=63)


def test_one_of_lists_the_allowed_values() -> None:
    """An unknown name is refused with every allowed value in the message."""
    assert validate.one_of("phase", "Draining", vocab.MIGRATION_PHASES) == "Draining"
    with pytest.raises(ValueError, match=r"phase must be one of Pending, .*, Failed; got 'drain'"):
        validate.one_of("phase", "drain", vocab.MIGRATION_PHASES)


def test_long_offending_values_are_shortened_in_messages() -> None:
    """A huge bad value does not end up whole in the error message."""
    with pytest.raises(ValueError, match="got 'xxx") as raised:
        validate.one_of("kind", "x" * 10_000, vocab.SIGNAL_KINDS)
    assert len(str(raised.value)) < 200


def test_times_must_carry_a_timezone() -> None:
    """Naive datetimes are refused; any aware one is accepted as given."""
    shanghai = datetime(2026, 7, 1, 20, tzinfo=timezone(timedelta(hours=8)))
    assert validate.aware("started_at", shanghai) is shanghai
    with pytest.raises(ValueError, match="started_at must be timezone-aware"):
        validate.aware("started_at", datetime(2026, 7, 1))
    with pytest.raises(ValueError, match="started_at must be a datetime, got str"):
        validate.aware("started_at", "2026-07-01T00:00:00Z")


def test_ranges_must_move_forward() -> None:
    """An end must be after its start; finished_at may equal started_at but not precede it."""
    validate.ordered("start", T0, "end", None)
    with pytest.raises(ValueError, match=r"end \(.*\) must be after start"):
        validate.ordered("start", T0, "end", T0)
    validate.not_before("started_at", T0, "finished_at", T0)
    with pytest.raises(ValueError, match="must not be before started_at"):
        validate.not_before("started_at", T0, "finished_at", T0 - timedelta(seconds=1))
    with pytest.raises(ValueError, match=r"until \(.*\) must be after since"):
        validate.time_range(T0, T0 - timedelta(hours=1))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (float("nan"), "must be finite"),
        (float("inf"), "must be finite"),
        (Decimal("1e14"), "less than 100000000000 in magnitude"),
        (True, "must be a number, got bool"),
        ("12", "must be a number, got str"),
        (-1, "must be at least 0"),
    ],
)
def test_numbers_must_fit_their_column(value: object, message: str) -> None:
    """kW values must be finite, fit Numeric(14, 3), and not be negative."""
    with pytest.raises(ValueError, match=message):
        validate.decimal("kw_moved", value, digits=vocab.KW_DIGITS, minimum=Decimal(0))


def test_floats_become_the_decimal_of_their_shortest_repr() -> None:
    """0.1 is stored as 0.1, not as the binary float's long expansion."""
    assert validate.decimal("value", 0.1, digits=vocab.SIGNAL_VALUE_DIGITS) == Decimal("0.1")
    assert validate.decimal("value", 7, digits=vocab.SIGNAL_VALUE_DIGITS) == Decimal(7)


def test_integers_are_bounded_and_bools_are_not_integers() -> None:
    """Counts and deadlines are ints within their bounds; True is not 1 here."""
    assert validate.integer("replicas", 0, minimum=0, maximum=10) == 0
    with pytest.raises(ValueError, match="replicas must be between 0 and 10, got 11"):
        validate.integer("replicas", 11, minimum=0, maximum=10)
    with pytest.raises(ValueError, match="replicas must be an integer, got bool"):
        validate.integer("replicas", True, minimum=0, maximum=10)


def test_uids_are_parsed_from_strings() -> None:
    """A Kubernetes uid string becomes a UUID; anything else is refused."""
    uid = uuid.uuid4()
    assert validate.uid("uid", str(uid)) == uid
    assert validate.uid("uid", uid) is uid
    with pytest.raises(ValueError, match="uid must be a UUID, got 'llm'"):
        validate.uid("uid", "llm")
    with pytest.raises(ValueError, match="uid must be a UUID, got int"):
        validate.uid("uid", 42)


def test_payloads_must_be_bounded_json_objects() -> None:
    """A payload is a JSON object without NaN or NUL, at most 64 KiB once encoded."""
    assert validate.json_object("payload", {"a": [1, 2.5, None]}, max_bytes=100) == {
        "a": [1, 2.5, None]
    }
    with pytest.raises(ValueError, match="payload must be a JSON object, got list"):
        validate.json_object("payload", [1], max_bytes=100)
    with pytest.raises(ValueError, match="not representable as JSON"):
        validate.json_object("payload", {"when": T0}, max_bytes=100)
    with pytest.raises(ValueError, match="at most 10 bytes"):
        validate.json_object("payload", {"a": "long enough"}, max_bytes=10)
    with pytest.raises(ValueError, match="must not contain NUL"):
        validate.json_object("payload", {"a": ["ok", {"b\x00": 1}]}, max_bytes=100)
    assert validate.json_object("payload", {"a": "\\u0000"}, max_bytes=100) == {"a": "\\u0000"}


def test_a_candidate_needs_exactly_the_five_terms() -> None:
    """A candidate score names every term once; unknown or missing terms are refused."""
    with pytest.raises(ValueError, match="must be exactly energy_cost, peak, green"):
        CandidateScore(cluster="hubei", total=1.0, terms={"energy_cost": 1.0})
    with pytest.raises(ValueError, match="must be exactly"):
        CandidateScore(cluster="hubei", total=1.0, terms=TERMS | {"vibes": 1.0})
    with pytest.raises(ValueError, match="term peak of candidate hubei must be finite"):
        CandidateScore(cluster="hubei", total=1.0, terms=TERMS | {"peak": math.inf})
    with pytest.raises(ValueError, match="candidate cluster must be at most 63"):
        CandidateScore(cluster="c" * 64, total=1.0, terms=TERMS)


finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@given(
    cluster=st.text(
        alphabet=st.characters(blacklist_characters="\x00"), min_size=1, max_size=vocab.CLUSTER_MAX
    ),
    total=finite,
    values=st.lists(finite, min_size=5, max_size=5),
)
def test_a_candidate_survives_its_json_round_trip(
    cluster: str, total: float, values: list[float]
) -> None:
    """Whatever a valid candidate holds, reading back its JSON gives the same candidate."""
    score = CandidateScore(
        cluster=cluster, total=total, terms=dict(zip(vocab.CANDIDATE_TERMS, values, strict=True))
    )
    assert CandidateScore.from_json(score.to_json()) == score


def test_urls_are_pinned_to_psycopg() -> None:
    """postgresql:// becomes postgresql+psycopg://; other drivers are a ConfigError."""
    url = psycopg_url("postgresql://u:pw@127.0.0.1:5432/db")
    assert url.drivername == "postgresql+psycopg"
    assert make_engine("postgresql+psycopg://u:pw@127.0.0.1/db").url.drivername == (
        "postgresql+psycopg"
    )
    with pytest.raises(ConfigError, match=r"must use postgresql\+psycopg://"):
        psycopg_url("mysql://u:pw@127.0.0.1/db")


def test_an_unparseable_url_is_refused_without_echoing_it() -> None:
    """A malformed URL is a ConfigError whose message does not contain the URL."""
    with pytest.raises(ConfigError, match="could not be parsed") as raised:
        psycopg_url("not a url with s3cret")
    assert "s3cret" not in str(raised.value)

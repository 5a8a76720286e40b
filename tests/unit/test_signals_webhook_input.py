"""The webhook's answers to bad bytes and bad headers, before anything reaches the ledger.

The app is the real one; its ledger points at a port where nothing listens, which these requests
never reach (each is refused before the ledger is asked).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from orchestrator.ledger.handle import Ledger
from orchestrator.signals.auth import Credentials, TokenStore
from orchestrator.signals.directory import ZoneDirectory
from orchestrator.signals.ingest import Ingestor
from orchestrator.signals.webhook import create_app, decode

NOWHERE = "postgresql+psycopg://nobody@127.0.0.1:1/none"
HEADERS = {"Authorization": "Bearer tok", "Content-Type": "application/json"}


@pytest.fixture
def webhook() -> Iterator[TestClient]:
    ledger = Ledger(NOWHERE, connect_timeout_seconds=1)
    ingestor = Ingestor(
        ledger=ledger,
        zones=ZoneDirectory(),
        tokens=TokenStore(
            {"op": Credentials(b"tok"), "signer": Credentials(b"signed", hmac_key=b"k")}
        ),
        clock=lambda: datetime.now(UTC),
    )
    with TestClient(create_app(ingestor), raise_server_exceptions=False) as client:
        yield client
    ledger.close()


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b'{"signals": [{"value": ' + b"9" * 4301 + b"}]}", "4300 digits"),
        (b'{"signals": [{"value": -' + b"1" * 10_000 + b"}]}", "4300 digits"),
        (b'{"signals": [{"value": 1e999}]}', "too large"),
        (b'{"signals": [{"value": NaN}]}', "NaN is not"),
        (b'{"signals": [{"value": -Infinity}]}', "Infinity is not"),
        (b"[" * 200_000, "nested too deeply"),
    ],
    ids=["int-4301-digits", "int-10000-digits", "float-overflow", "nan", "infinity", "deep"],
)
def test_a_number_python_cannot_hold_is_answered_400_not_500(
    webhook: TestClient, body: bytes, words: str
) -> None:
    """Integers over Python's 4,300-digit limit, overflowing floats and NaN are 400 "not JSON"."""
    answer = webhook.post("/v1/signals", content=body, headers=HEADERS)
    assert answer.status_code == 400, answer.text
    assert "not JSON" in answer.json()["detail"]
    assert words in answer.json()["detail"]


def test_decode_keeps_ordinary_json() -> None:
    """Plain JSON, big but holdable numbers included, decodes as ``json.loads`` would."""
    assert decode(b'{"a": [1, 2.5, "x", null, true], "b": ' + b"9" * 4300 + b"}") == {
        "a": [1, 2.5, "x", None, True],
        "b": int("9" * 4300),
    }


@pytest.mark.parametrize("stamp", ["²", "¹²³", "17²"])
def test_a_unicode_digit_timestamp_is_answered_401_not_500(webhook: TestClient, stamp: str) -> None:
    """``X-Gridshift-Timestamp: ²`` is refused as an authentication failure, with its reason.

    HTTP header bytes arrive decoded as Latin-1, where byte 0xB2 is "²" (``isdigit`` true).
    """
    answer = webhook.post(
        "/v1/signals",
        content=b'{"signals": []}',
        headers={
            "Authorization": "Bearer signed",
            "X-Gridshift-Timestamp": stamp.encode("latin-1"),  # type: ignore[dict-item]
            "X-Gridshift-Signature": "sha256=00",
        },
    )
    assert answer.status_code == 401, answer.text
    assert "unix seconds" in answer.json()["detail"]

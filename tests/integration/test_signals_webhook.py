"""The signal webhook served by uvicorn on loopback, writing to a real PostgreSQL.

Bad input of every kind is refused with its status code and the server keeps serving; a good
signal is in the ledger when the answer arrives; a repeat adds no row; schemathesis drives
generated requests from the app's OpenAPI document and no answer is a 5xx.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from served import serve
from sqlalchemy import Engine, func, select, text

from orchestrator.api.gridzone import GridZoneSpec, GridZoneStatus
from orchestrator.ledger.db import make_engine
from orchestrator.ledger.handle import Ledger
from orchestrator.ledger.models import GridSignal
from orchestrator.ledger.schema import upgrade_to_head
from orchestrator.signals.auth import Credentials, TokenStore, sign
from orchestrator.signals.directory import ZoneDirectory
from orchestrator.signals.ingest import Ingestor
from orchestrator.signals.webhook import create_app

TOKEN, SIGNED_TOKEN, HMAC_KEY = "tok-sh", "tok-vtn", b"hmac-key-vtn"
OTHER_TOKEN, FUZZ_TOKEN = "tok-other", "tok-fuzz"
LIMIT = 1024 * 1024
OPERATORS = ["sgcc-sh", "vtn-1", "fuzz"]
FUZZ_REQUESTS = 1050
FUZZ_SECONDS = 120


@dataclass(frozen=True)
class Zone:
    """A GridZone as the directory holds it."""

    name: str
    generation: int | None
    spec: GridZoneSpec
    status: GridZoneStatus | None = None


ZONES = [
    Zone(
        "shanghai",
        1,
        GridZoneSpec.model_validate(
            {
                "gridZoneID": "CN-SH",
                "openADR": {"venName": "gs", "targets": ["cluster-sh-lingang-01"]},
                "gridOperators": OPERATORS,
            }
        ),
    ),
    Zone(
        "hubei", 1, GridZoneSpec.model_validate({"gridZoneID": "CN-HB", "gridOperators": OPERATORS})
    ),
    Zone(
        "ningxia",
        1,
        GridZoneSpec.model_validate({"gridZoneID": "CN-NX", "gridOperators": ["vtn-1"]}),
    ),
]


@dataclass
class Webhook:
    """The running webhook, its database and what it reported."""

    url: str
    engine: Engine
    recorded: list[set[str]]
    document: dict[str, Any]
    """The app's OpenAPI document (published on the operator's API port, not the webhook's)."""

    def rows(self, source: str) -> int:
        with self.engine.connect() as connection:
            query = select(func.count()).select_from(GridSignal).where(GridSignal.source == source)
            return int(connection.execute(query).scalar_one())


def build_app(ledger: Ledger, recorded: list[set[str]]) -> Any:
    """The app over the real ledger, two operators (one signing) and the test zones."""
    ingestor = Ingestor(
        ledger=ledger,
        zones=ZoneDirectory(ZONES),
        tokens=TokenStore(
            {
                "sgcc-sh": Credentials(TOKEN.encode()),
                "vtn-1": Credentials(SIGNED_TOKEN.encode(), hmac_key=HMAC_KEY),
                "other-grid": Credentials(OTHER_TOKEN.encode()),
                "fuzz": Credentials(FUZZ_TOKEN.encode()),
            }
        ),
        clock=lambda: datetime.now(UTC),
        on_recorded=lambda zones, at: recorded.append(set(zones)),
    )
    return create_app(ingestor, body_limit=LIMIT)


@pytest.fixture(scope="module")
def webhook(database_url: str) -> Iterator[Webhook]:
    """The webhook on loopback over the session's PostgreSQL at head."""
    upgrade_to_head(database_url)
    engine = make_engine(database_url)
    ledger = Ledger(database_url)
    recorded: list[set[str]] = []
    app = build_app(ledger, recorded)
    with serve(app) as url:
        yield Webhook(url, engine, recorded, app.openapi())
    ledger.close()
    engine.dispose()


def entry(ident: str, **extra: Any) -> dict[str, Any]:
    """A valid peak-level entry for shanghai."""
    return {
        "type": "peakLevel",
        "id": ident,
        "zone": "shanghai",
        "start": "2026-07-15T04:00:00Z",
        "end": "2026-07-15T05:00:00Z",
        "level": 2,
        **extra,
    }


def post(
    url: str,
    body: bytes | dict[str, Any],
    *,
    token: str | None = TOKEN,
    path: str = "/v1/signals",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """POST ``body`` (JSON-encoded unless bytes) with a bearer token."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    sent = {"Content-Type": "application/json", **(headers or {})}
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    return httpx.post(url + path, content=data, headers=sent, timeout=10)


def signed(body: bytes, at: float) -> dict[str, str]:
    """Signature headers for ``body`` as of unix time ``at``."""
    return {
        "X-Gridshift-Timestamp": str(int(at)),
        "X-Gridshift-Signature": sign(body, key=HMAC_KEY, timestamp=int(at)),
    }


def still_serving(webhook: Webhook, tag: str) -> None:
    """A good signal is accepted after whatever came before."""
    answer = post(webhook.url, {"signals": [entry(f"alive-{tag}")]})
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] in (0, 1)


BIG = json.dumps({"signals": [entry("big", pad="x" * (LIMIT + 10))]}).encode()
BAD: list[tuple[str, Callable[[str], httpx.Response], int, str]] = [
    ("no token", lambda u: post(u, {"signals": [entry("a")]}, token=None), 401, "no bearer"),
    ("wrong token", lambda u: post(u, {"signals": [entry("a")]}, token="nope"), 401, "not one of"),
    (
        "bad signature",
        lambda u: post(
            u, b'{"signals": []}', token=SIGNED_TOKEN, headers=signed(b"{}", time.time())
        ),
        401,
        "does not match",
    ),
    (
        "replayed signature",
        lambda u: post(
            u,
            {"signals": [entry("r")]},
            token=SIGNED_TOKEN,
            headers=signed(json.dumps({"signals": [entry("r")]}).encode(), time.time() - 360),
        ),
        401,
        "replay window",
    ),
    ("oversized body", lambda u: post(u, BIG), 413, "larger than"),
    (
        "oversized chunked body",
        lambda u: httpx.post(
            u + "/v1/signals",
            content=iter([BIG[:600_000], BIG[600_000:]]),
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=10,
        ),
        413,
        "larger than",
    ),
    ("malformed JSON", lambda u: post(u, b'{"signals": [', token=TOKEN), 400, "not JSON"),
    (
        "schema-invalid",
        lambda u: post(u, {"signals": [entry("s", level=9)]}),
        422,
        "signals.0.peakLevel.level",
    ),
    (
        "missing field",
        lambda u: post(
            u,
            {
                "signals": [
                    {
                        "type": "price",
                        "id": "m",
                        "zone": "shanghai",
                        "start": "2026-07-15T04:00:00Z",
                        "value": 1,
                    }
                ]
            },
        ),
        422,
        "currency",
    ),
    (
        "unknown zone",
        lambda u: post(u, {"signals": [entry("u", zone="atlantis")]}),
        422,
        "atlantis",
    ),
    (
        "unknown OpenADR target",
        lambda u: post(
            u,
            {
                "objectType": "EVENT",
                "operation": "CREATE",
                "object": {"id": "x", "programID": "p", "targets": ["nowhere"], "intervals": []},
            },
            path="/openadr/callback",
        ),
        422,
        "nowhere",
    ),
]


@pytest.mark.parametrize(("case", "send", "status", "words"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_refused_and_the_server_keeps_serving(
    webhook: Webhook, case: str, send: Callable[[str], httpx.Response], status: int, words: str
) -> None:
    """Each kind of bad input gets its status and a reason; nothing of it is recorded."""
    before = webhook.rows("native:sgcc-sh") + webhook.rows("native:vtn-1")
    answer = send(webhook.url)
    assert answer.status_code == status, answer.text
    assert words in answer.json()["detail"]
    if status == 401:
        assert answer.headers["www-authenticate"] == "Bearer"
    assert webhook.rows("native:sgcc-sh") + webhook.rows("native:vtn-1") == before
    still_serving(webhook, case.replace(" ", "-"))


def test_signal_is_in_the_ledger_when_acknowledged(webhook: Webhook) -> None:
    """After 200 the row exists, then the zone is reported for processing."""
    before = webhook.rows("native:sgcc-sh")
    answer = post(webhook.url, {"signals": [entry("durable-1"), entry("durable-2", zone="CN-HB")]})
    assert answer.json() == {"accepted": 2, "duplicates": 0, "ignored": 0}
    assert webhook.rows("native:sgcc-sh") == before + 2
    assert {"shanghai", "hubei"} in webhook.recorded


def test_duplicate_external_id_adds_no_row(webhook: Webhook) -> None:
    """The same id again is 200 with a duplicate and no new row, even with another value."""
    assert post(webhook.url, {"signals": [entry("dup-1")]}).json()["accepted"] == 1
    rows = webhook.rows("native:sgcc-sh")
    again = post(webhook.url, {"signals": [entry("dup-1", level=3)]})
    assert again.status_code == 200
    assert again.json() == {"accepted": 0, "duplicates": 1, "ignored": 0}
    assert webhook.rows("native:sgcc-sh") == rows


def test_signed_operator_with_fresh_signature_is_accepted(webhook: Webhook) -> None:
    """A signing operator's request with a fresh, correct signature is recorded under its name."""
    body = json.dumps({"signals": [entry("signed-1")]}).encode()
    answer = post(webhook.url, body, token=SIGNED_TOKEN, headers=signed(body, time.time()))
    assert answer.status_code == 200, answer.text
    assert webhook.rows("native:vtn-1") >= 1


def test_openadr_echo_and_notifications(webhook: Webhook) -> None:
    """The echo check answers the value; an EVENT is recorded; a PROGRAM is acknowledged, ignored."""
    echo = httpx.get(webhook.url + "/openadr/callback", params={"echo": "c2a1-9f"}, timeout=5)
    assert (echo.status_code, echo.text) == (200, "c2a1-9f")
    assert httpx.get(webhook.url + "/openadr/callback", timeout=5).status_code == 400
    event = {
        "object_type": "EVENT",
        "operation": "POST",
        "object": {
            "id": "wh-evt-1",
            "program_id": "p",
            "targets": ["cluster-sh-lingang-01"],
            "interval_period": {"start": "2026-07-15T04:00:00Z", "duration": "PT1H"},
            "intervals": [{"id": 0, "payloads": [{"type": "SIMPLE", "values": [3]}]}],
        },
    }
    answer = post(webhook.url, event, path="/openadr/callback")
    assert answer.json() == {"accepted": 1, "duplicates": 0, "ignored": 0}
    program = {
        "objectType": "PROGRAM",
        "operation": "POST",
        "object": {"id": "0", "programName": "x"},
    }
    assert post(webhook.url, program, path="/openadr/callback").json()["ignored"] == 1
    assert webhook.rows("openadr:sgcc-sh") == 1


def test_unreachable_ledger_answers_503_and_acknowledges_nothing() -> None:
    """With PostgreSQL unreachable the answer is 503 with Retry-After, never 200."""
    ledger = Ledger("postgresql+psycopg://nobody@127.0.0.1:1/none", connect_timeout_seconds=2)
    with serve(build_app(ledger, [])) as url:
        answer = post(url, {"signals": [entry("lost-1")]})
    ledger.close()
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "5"


@contextmanager
def refused_at_commit(engine: Engine, table: str, column: str, prefix: str) -> Iterator[None]:
    """Rows of ``table`` whose ``column`` starts with ``prefix`` are accepted by every statement
    and refused by PostgreSQL at COMMIT (a deferred constraint trigger), while this lasts."""
    name = f"refuse_{table}_at_commit"
    with engine.begin() as connection:
        connection.execute(
            text(
                f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'refused at COMMIT'; END $$"
            )
        )
        connection.execute(
            text(
                f"CREATE CONSTRAINT TRIGGER {name} AFTER INSERT ON {table} "
                f"DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
                f"WHEN (NEW.{column} LIKE '{prefix}%') EXECUTE FUNCTION {name}()"
            )
        )
    try:
        yield
    finally:
        with engine.begin() as connection:
            connection.execute(text(f"DROP TRIGGER IF EXISTS {name} ON {table}"))
            connection.execute(text(f"DROP FUNCTION IF EXISTS {name}()"))


def test_a_failure_at_commit_answers_503_with_retry_after(webhook: Webhook) -> None:
    """PostgreSQL refusing the COMMIT (not a statement) is 503 with Retry-After, never 500, and
    leaves no row; the same request succeeds once the ledger takes it."""
    body = {"signals": [entry("commit-fails-1"), entry("commit-fails-2", zone="CN-HB")]}
    before = webhook.rows("native:sgcc-sh")
    with refused_at_commit(webhook.engine, "grid_signals", "external_id", "commit-fails-"):
        answer = post(webhook.url, body)
    assert answer.status_code == 503, answer.text
    assert answer.headers["retry-after"] == "5"
    assert "retry later" in answer.json()["detail"]
    assert webhook.rows("native:sgcc-sh") == before
    again = post(webhook.url, body)
    assert again.json() == {"accepted": 2, "duplicates": 0, "ignored": 0}


def test_the_same_native_id_and_start_in_two_zones_records_both(webhook: Webhook) -> None:
    """An operator's id is its own per zone: the same id and start for shanghai and hubei are
    two signals, both recorded; each repeated is a duplicate of its own."""
    body = {"signals": [entry("per-zone-1"), entry("per-zone-1", zone="hubei")]}
    first = post(webhook.url, body)
    assert first.json() == {"accepted": 2, "duplicates": 0, "ignored": 0}, first.text
    assert post(webhook.url, body).json() == {"accepted": 0, "duplicates": 2, "ignored": 0}
    with webhook.engine.connect() as connection:
        zones = connection.execute(
            select(GridSignal.zone).where(GridSignal.external_id == "per-zone-1")
        ).scalars()
        assert sorted(zones) == ["hubei", "shanghai"]


def test_an_operators_token_speaks_only_for_the_zones_that_name_it(webhook: Webhook) -> None:
    """A token is refused with 403 for a zone whose gridOperators do not name its operator,
    natively or over OpenADR, and nothing of the batch is recorded; named zones accept it."""
    foreign = post(webhook.url, {"signals": [entry("foreign-1", zone="ningxia")]})
    assert foreign.status_code == 403, foreign.text
    assert "spec.gridOperators" in foreign.json()["detail"]
    mixed = post(webhook.url, {"signals": [entry("mixed-1"), entry("mixed-2", zone="CN-NX")]})
    assert mixed.status_code == 403
    stranger = post(webhook.url, {"signals": [entry("stranger-1")]}, token=OTHER_TOKEN)
    assert stranger.status_code == 403
    event = {
        "objectType": "EVENT",
        "operation": "CREATE",
        "object": {
            "id": "foreign-evt",
            "programID": "p",
            "createdDateTime": "2026-07-14T09:30:02Z",
            "targets": ["cluster-sh-lingang-01"],
            "intervalPeriod": {"start": "2026-07-15T04:00:00Z", "duration": "PT1H"},
            "intervals": [{"id": 0, "payloads": [{"type": "SIMPLE", "values": [3]}]}],
        },
    }
    refused = post(webhook.url, event, path="/openadr/callback", token=OTHER_TOKEN)
    assert refused.status_code == 403, refused.text
    for ident in ("foreign-1", "mixed-1", "mixed-2", "stranger-1"):
        with webhook.engine.connect() as connection:
            found = connection.execute(
                select(func.count()).select_from(GridSignal).where(GridSignal.external_id == ident)
            ).scalar_one()
        assert found == 0, ident
    assert webhook.rows("openadr:other-grid") == 0
    allowed = post(webhook.url, event, path="/openadr/callback")
    assert allowed.json() == {"accepted": 1, "duplicates": 0, "ignored": 0}, allowed.text


def test_a_flood_of_slow_bodies_is_bounded_and_the_server_keeps_answering(
    database_url: str,
) -> None:
    """Twelve senders that send headers and half a body, then stall: at most four are held
    (the rest answered 503 at once), each held one is answered 408 when its time is up, the
    event loop answers /healthz throughout, and a good signal is accepted afterwards."""
    upgrade_to_head(database_url)
    ledger = Ledger(database_url)
    ingestor = Ingestor(
        ledger=ledger,
        zones=ZoneDirectory(ZONES),
        tokens=TokenStore({"sgcc-sh": Credentials(TOKEN.encode())}),
        clock=lambda: datetime.now(UTC),
    )
    app = create_app(ingestor, body_limit=LIMIT, read_seconds=1.5, max_concurrent=4)
    with serve(app) as url:
        host, port = url.removeprefix("http://").split(":")
        stalled = []
        for _ in range(12):
            sock = socket.create_connection((host, int(port)), timeout=5)
            sock.sendall(
                b"POST /v1/signals HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 1000\r\n\r\n" + b'{"signals": ['
            )
            stalled.append(sock)
        started = time.monotonic()
        assert httpx.get(url + "/healthz", timeout=5).status_code == 200
        assert time.monotonic() - started < 1
        answers = []
        for sock in stalled:
            head = sock.recv(4096).split(b"\r\n", 1)[0]
            answers.append(int(head.split()[1]))
            sock.close()
        took = time.monotonic() - started
        good = post(url, {"signals": [entry("after-flood")]})
    ledger.close()
    assert sorted(answers) == [408] * 4 + [503] * 8, answers
    assert took < 5
    assert good.status_code == 200, good.text


def test_fuzzed_requests_never_get_a_5xx(webhook: Webhook) -> None:
    """At least 1,000 schemathesis requests from the OpenAPI document, valid and invalid: no 5xx."""
    assert httpx.get(webhook.url + "/openapi.json", timeout=5).status_code == 404
    schema = schemathesis.openapi.from_dict(webhook.document)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    strategy = st.one_of(
        schema.as_strategy(schemathesis.GenerationMode.POSITIVE, headers=headers),
        schema.as_strategy(schemathesis.GenerationMode.NEGATIVE, headers=headers),
    )
    seen: dict[int, int] = {}
    deadline = time.monotonic() + FUZZ_SECONDS
    session = requests.Session()

    @settings(
        max_examples=FUZZ_REQUESTS,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def fuzz(case: Any) -> None:
        if time.monotonic() > deadline:
            return
        answer = case.call(base_url=webhook.url, session=session, timeout=10)
        seen[answer.status_code] = seen.get(answer.status_code, 0) + 1
        assert answer.status_code < 500, (case.method, case.path, case.body, answer.text[:500])

    started = time.monotonic()
    fuzz()
    session.close()
    total = sum(seen.values())
    took = time.monotonic() - started
    print(f"schemathesis: {total} requests in {took:.0f} s, statuses {dict(sorted(seen.items()))}")
    assert total >= 1000, f"only {total} requests within {FUZZ_SECONDS} s"
    still_serving(webhook, "after-fuzz")

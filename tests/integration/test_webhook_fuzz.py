"""The webhook under generated traffic: 10,000 requests, no 5xx, and the ledger holds exactly
what was acknowledged.

The real app (auth, body bounds, JSON decoding, schema, zone scoping, the ledger) is served by
uvicorn on loopback over the session's PostgreSQL. Hypothesis generates each request from
strategies that mix well-formed batches and notifications with everything a sender can get
wrong: tokens and signature headers of any Latin-1 text ("²" included), integers past Python's
4,300-digit limit, floats past a double, NaN, deep nesting, wrong types, unknown and foreign
zones, truncated and random bytes. Derandomized with a fixed example count, so every run sends
the same requests; bounded in time as well.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from served import serve
from sqlalchemy import Engine, func, select

from orchestrator.api.gridzone import GridZoneSpec, GridZoneStatus
from orchestrator.ledger.db import make_engine
from orchestrator.ledger.handle import Ledger
from orchestrator.ledger.models import GridSignal
from orchestrator.ledger.schema import upgrade_to_head
from orchestrator.signals.auth import Credentials, TokenStore, sign
from orchestrator.signals.directory import ZoneDirectory
from orchestrator.signals.ingest import Ingestor
from orchestrator.signals.webhook import create_app

REQUESTS = int(os.environ.get("FUZZ_N", "10000"))
SECONDS = 170
RUN = uuid.uuid4().hex[:6]
OPERATOR, TOKEN = f"fuzz-{RUN}", f"tok-fuzz-{RUN}"
SIGNER, SIGNED_TOKEN, HMAC_KEY = f"fuzz-signer-{RUN}", f"tok-signer-{RUN}", b"fuzz-hmac-key"
STRANGER_TOKEN = f"tok-stranger-{RUN}"
SOURCES = [f"native:{OPERATOR}", f"openadr:{OPERATOR}", f"native:{SIGNER}", f"openadr:{SIGNER}"]
TARGET = f"fuzz-target-{RUN}"


@dataclass(frozen=True)
class Zone:
    name: str
    generation: int | None
    spec: GridZoneSpec
    status: GridZoneStatus | None = None


def zone(name: str, grid_id: str, operators: list[str], targets: list[str]) -> Zone:
    spec = {"gridZoneID": grid_id, "gridOperators": operators}
    if targets:
        spec["openADR"] = {"venName": "gs", "targets": targets}
    return Zone(name, 1, GridZoneSpec.model_validate(spec))


ZONES = [
    zone("shanghai", "CN-SH", [OPERATOR, SIGNER], [TARGET]),
    zone("hubei", "CN-HB", [OPERATOR], []),
    zone("ningxia", "CN-NX", ["someone-else"], [f"{TARGET}-nx"]),
]
NOW = datetime.now(UTC).replace(microsecond=0)

# -- strategies ---------------------------------------------------------------------------

huge_int = st.integers(min_value=4290, max_value=4400).map(lambda n: f"__BIG_{n}__")
"""An integer of 4,290 to 4,400 digits: Python cannot even build one past 4,300 from text, so
the strategy draws a marker that :func:`encode` writes as the digits themselves."""
_BIG = re.compile(r'"(-?)__BIG_([0-9]+)__"')


def encode(document: Any) -> bytes:
    """``document`` as JSON, each big-integer marker written as that many digits."""
    text = json.dumps(document)
    return _BIG.sub(lambda m: m.group(1) + "9" * int(m.group(2)), text).encode()


odd_number = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    huge_int,
    huge_int.map(lambda n: n.replace("__BIG", "-__BIG")),
    st.sampled_from([0, -1, 1e308, -1e308, 5e-324, 2**63, 2**64 + 1]),
)
value = st.one_of(
    st.floats(min_value=-120, max_value=120, allow_nan=False), odd_number, st.integers(-5, 5)
)
latin1 = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
    max_size=40,
).map(lambda text: text.lstrip(" "))
"""Header text: any Latin-1 character but controls (HTTP carries no others), no leading space."""
stamp = st.one_of(
    st.datetimes(
        min_value=datetime(2026, 1, 1),
        max_value=datetime(2027, 12, 31),
        timezones=st.just(UTC),
    ).map(lambda d: d.isoformat()),
    st.just((NOW + timedelta(minutes=5)).isoformat()),
    st.sampled_from(["2026-07-15T04:00:00", "9999-12-31T23:59:59+14:00", "not a time", ""]),
    st.sampled_from(["0001-01-01T00:00:00Z", "-0001-01-01T00:00:00Z", "2026-13-45T99:00:00Z"]),
)
ident = st.one_of(
    st.integers(0, 400).map(lambda n: f"fz-{n}"),
    st.text(max_size=12),
    st.just("x" * 300),
)
zone_ref = st.sampled_from(["shanghai", "CN-SH", "hubei", "CN-HB", "ningxia", "atlantis", ""])
kinds = st.sampled_from(["price", "peakLevel", "carbonIntensity", "greenPowerRatio", "drOrder"])


@st.composite
def native_entry(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.one_of(kinds, st.text(max_size=8)))
    item: dict[str, Any] = {"type": kind, "id": draw(ident), "zone": draw(zone_ref)}
    item["start"] = draw(stamp)
    if draw(st.booleans()):
        item["end"] = draw(stamp)
    if kind == "price":
        item |= {"value": draw(value), "currency": draw(st.sampled_from(["CNY", "EUR", "XXX"]))}
        if draw(st.booleans()):
            item["unit"] = draw(st.sampled_from(["kWh", "MWh", "GWh"]))
    elif kind == "peakLevel":
        item["level"] = draw(st.one_of(st.integers(-1, 4), huge_int))
    elif kind in ("carbonIntensity", "greenPowerRatio"):
        item["value"] = draw(value)
    elif kind == "drOrder":
        field_name = draw(st.sampled_from(["shedKW", "importCapKW"]))
        item[field_name] = draw(value)
        if draw(st.booleans()):
            item["responseDeadlineSeconds"] = draw(st.one_of(st.integers(0, 5000), huge_int))
        if draw(st.integers(0, 9)) == 0:
            item["cancel"] = True
            item["eventID"] = draw(ident)
    if draw(st.integers(0, 9)) == 0:
        item["priority"] = draw(st.one_of(st.integers(-2, 2000), huge_int))
    if draw(st.integers(0, 14)) == 0:
        item[draw(st.text(max_size=6))] = draw(value)
    return item


@st.composite
def valid_entry(draw: st.DrawFn) -> dict[str, Any]:
    """An entry the webhook must accept (new, or a repeat of an earlier one)."""
    start = NOW + timedelta(minutes=15 * draw(st.integers(-40, 200)))
    item: dict[str, Any] = {
        "id": f"ok-{draw(st.integers(0, 5000))}",
        "zone": draw(st.sampled_from(["shanghai", "CN-SH", "hubei", "CN-HB"])),
        "start": start.isoformat(),
        "end": (start + timedelta(minutes=15)).isoformat(),
    }
    kind = draw(st.sampled_from(["price", "peakLevel", "carbonIntensity", "greenPowerRatio"]))
    if kind == "price":
        return item | {"type": kind, "value": draw(st.floats(-100, 100)), "currency": "CNY"}
    if kind == "peakLevel":
        return item | {"type": kind, "level": draw(st.integers(0, 3))}
    if kind == "carbonIntensity":
        return item | {"type": kind, "value": draw(st.floats(0, 2000))}
    return item | {"type": kind, "value": draw(st.floats(0, 1))}


@st.composite
def openadr_event(draw: st.DrawFn) -> dict[str, Any]:
    payload_type = draw(
        st.sampled_from(
            ["SIMPLE", "PRICE", "GHG", "IMPORT_CAPACITY_LIMIT", "DISPATCH_SETPOINT", "OTHER"]
        )
    )
    values = draw(st.lists(st.one_of(value, st.text(max_size=4), st.booleans()), max_size=4))
    start = draw(st.one_of(stamp, st.just("0001-01-01T00:00:00Z")))
    period: dict[str, Any] = {"start": start}
    if draw(st.booleans()):
        period["duration"] = draw(st.sampled_from(["PT15M", "PT1H", "PT0S", "P9999Y", "P1D", "x"]))
    event: dict[str, Any] = {
        "id": draw(ident),
        "programID": draw(st.sampled_from(["p", "fast-dr", ""])),
        "targets": draw(st.sampled_from([[TARGET], [f"{TARGET}-nx"], ["nowhere"], []])),
        "intervals": [
            {"id": draw(st.integers(-3, 3)), "payloads": [{"type": payload_type, "values": values}]}
        ],
    }
    if draw(st.booleans()):
        event["intervalPeriod"] = period
    if draw(st.booleans()):
        event["createdDateTime"] = draw(stamp)
    if draw(st.booleans()):
        event["modificationDateTime"] = draw(stamp)
    if draw(st.booleans()):
        event["priority"] = draw(st.one_of(st.integers(-1, 2000), huge_int))
    if draw(st.booleans()):
        event["duration"] = draw(st.sampled_from(["PT30M", "P2D", "PT0S", "bad"]))
    return {
        draw(st.sampled_from(["objectType", "object_type"])): draw(
            st.sampled_from(["EVENT", "PROGRAM", "SUBSCRIPTION", ""])
        ),
        "operation": draw(
            st.sampled_from(["CREATE", "POST", "UPDATE", "PUT", "DELETE", "READ", "?"])
        ),
        "object": event,
    }


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


raw_body = st.one_of(
    st.binary(max_size=64),
    st.just(b'{"signals": ['),
    st.just(b'{"signals": [{"value": NaN}]}'),
    st.just(b'{"signals": [{"value": 1e999}]}'),
    st.integers(100, 5000).map(nested),
    huge_int.map(lambda n: encode({"signals": [{"value": n}]})),
    st.just(b"\xff\xfe{}"),
)


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, bytes]
    body: bytes
    signer: bool


@st.composite
def request(draw: st.DrawFn) -> Request:
    path = draw(st.sampled_from(["/v1/signals"] * 3 + ["/openadr/callback"] * 2))
    shape = draw(st.integers(0, 9))
    if shape == 0:
        body = draw(raw_body)
    elif path == "/v1/signals":
        entries = st.one_of(
            st.lists(valid_entry(), min_size=1, max_size=8),
            st.lists(st.one_of(valid_entry(), native_entry()), min_size=0, max_size=6),
        )
        document: Any = {"signals": draw(entries)}
        if shape == 1:
            document = draw(st.one_of(st.lists(native_entry(), max_size=2), st.just({}), value))
        body = encode(document)
    else:
        body = encode(draw(openadr_event()))
    headers = {"Content-Type": b"application/json"}
    who = draw(st.integers(0, 19))
    signer = False
    if who < 12:
        headers["Authorization"] = f"Bearer {TOKEN}".encode()
    elif who < 15:
        headers["Authorization"] = f"Bearer {SIGNED_TOKEN}".encode()
        signer = True
    elif who == 15:
        headers["Authorization"] = f"Bearer {STRANGER_TOKEN}".encode()
    elif who < 19:
        headers["Authorization"] = draw(latin1).encode("latin-1")
    if signer or draw(st.integers(0, 4)) == 0:
        now = int(time.time())
        good = draw(st.booleans())
        stamp_text = str(now) if good else draw(st.one_of(latin1, st.just("²"), st.just("9" * 30)))
        headers["X-Gridshift-Timestamp"] = stamp_text.encode("latin-1")
        signature = sign(body, key=HMAC_KEY, timestamp=now) if good and signer else draw(latin1)
        headers["X-Gridshift-Signature"] = signature.encode("latin-1")
    return Request(path, headers, body, signer)


# -- the run ------------------------------------------------------------------------------


@dataclass
class Tally:
    """What the fuzz saw: statuses, 5xx examples, and the signals acknowledged as new."""

    statuses: Counter[int] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    acknowledged: int = 0
    sent: int = 0


def ledger_rows(engine: Engine) -> int:
    with engine.connect() as connection:
        query = select(func.count()).select_from(GridSignal).where(GridSignal.source.in_(SOURCES))
        return int(connection.execute(query).scalar_one())


@pytest.fixture(scope="module")
def served(database_url: str) -> Iterator[tuple[str, Engine]]:
    upgrade_to_head(database_url)
    engine = make_engine(database_url)
    ledger = Ledger(database_url)
    ingestor = Ingestor(
        ledger=ledger,
        zones=ZoneDirectory(ZONES),
        tokens=TokenStore(
            {
                OPERATOR: Credentials(TOKEN.encode()),
                SIGNER: Credentials(SIGNED_TOKEN.encode(), hmac_key=HMAC_KEY),
                f"stranger-{RUN}": Credentials(STRANGER_TOKEN.encode()),
            }
        ),
        clock=lambda: datetime.now(UTC),
    )
    with serve(create_app(ingestor, body_limit=256 * 1024)) as url:
        yield url, engine
    ledger.close()
    engine.dispose()


def test_10000_generated_requests_get_no_5xx_and_the_ledger_holds_what_was_acknowledged(
    served: tuple[str, Engine],
) -> None:
    """10,000 generated requests, headers and oversized numbers included: the running count of
    5xx answers ends at 0, and the new ledger rows equal the sum of ``accepted`` answered."""
    url, engine = served
    before = ledger_rows(engine)
    tally = Tally()
    session = requests.Session()
    deadline = time.monotonic() + SECONDS

    @settings(
        max_examples=REQUESTS,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(req=request())
    def fuzz(req: Request) -> None:
        if time.monotonic() > deadline:
            return
        answer = session.post(url + req.path, data=req.body, headers=req.headers, timeout=30)
        tally.sent += 1
        tally.statuses[answer.status_code] += 1
        if answer.status_code >= 500 and len(tally.server_errors) < 5:
            tally.server_errors.append(f"{req.path} {req.body[:200]!r} -> {answer.text[:300]}")
        if answer.status_code == 200:
            tally.acknowledged += int(answer.json()["accepted"])

    started = time.monotonic()
    fuzz()
    took = time.monotonic() - started
    session.close()
    server_errors = sum(n for status, n in tally.statuses.items() if status >= 500)
    rows = ledger_rows(engine) - before
    print(
        f"webhook fuzz: {tally.sent} requests in {took:.0f} s, "
        f"statuses {dict(sorted(tally.statuses.items()))}, 5xx {server_errors}, "
        f"acknowledged {tally.acknowledged}, new ledger rows {rows}"
    )
    assert server_errors == 0, tally.server_errors
    assert tally.sent >= REQUESTS, f"only {tally.sent} requests within {SECONDS} s"
    assert rows == tally.acknowledged
    assert tally.acknowledged > 0, "no generated request was valid: the fuzz tests nothing"
    assert {200, 400, 401, 403, 422} <= set(tally.statuses), tally.statuses

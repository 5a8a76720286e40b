"""`gridshift signal send` against the real webhook (uvicorn on loopback) and its PostgreSQL ledger."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from served import serve
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from orchestrator.api.gridzone import GridZoneSpec, GridZoneStatus
from orchestrator.cli import app
from orchestrator.devenv.procs import free_port
from orchestrator.ledger.db import session_factory
from orchestrator.ledger.handle import Ledger
from orchestrator.ledger.models import GridSignal
from orchestrator.signals.auth import Credentials, TokenStore
from orchestrator.signals.directory import ZoneDirectory
from orchestrator.signals.ingest import Ingestor
from orchestrator.signals.webhook import create_app

TOKEN, SIGNED_TOKEN, HMAC_KEY = "tok-cli", "tok-signing", "hmac-key-cli"


@dataclass(frozen=True)
class Zone:
    """A GridZone as the directory holds it."""

    name: str
    generation: int | None
    spec: GridZoneSpec
    status: GridZoneStatus | None = None


@dataclass(frozen=True)
class Webhook:
    url: str
    engine: Engine

    def signal(self, external_id: str) -> GridSignal | None:
        with session_factory(self.engine)() as session:
            return session.scalars(
                select(GridSignal).where(GridSignal.external_id == external_id)
            ).one_or_none()


@pytest.fixture(scope="module")
def webhook(engine: Engine, ledger_door: Ledger) -> Iterator[Webhook]:
    """The webhook app over the real ledger, one plain and one signing operator, zone shanghai."""
    ingestor = Ingestor(
        ledger=ledger_door,
        zones=ZoneDirectory(
            [
                Zone(
                    "shanghai",
                    1,
                    GridZoneSpec.model_validate(
                        {"gridZoneID": "CN-SH", "gridOperators": ["grid-cli", "grid-signing"]}
                    ),
                )
            ]
        ),
        tokens=TokenStore(
            {
                "grid-cli": Credentials(TOKEN.encode()),
                "grid-signing": Credentials(SIGNED_TOKEN.encode(), hmac_key=HMAC_KEY.encode()),
            }
        ),
        clock=lambda: datetime.now(UTC),
    )
    with serve(create_app(ingestor)) as url:
        yield Webhook(url, engine)


def secret_file(tmp_path: Path, value: str) -> str:
    path = tmp_path / f"secret-{uuid.uuid4().hex[:6]}"
    path.write_text(value + "\n")
    return str(path)


def send(*args: str, env: dict[str, str | None] | None = None) -> Result:
    return CliRunner().invoke(app, ["signal", "send", *args], env={"COLUMNS": "200", **(env or {})})


def answer(done: Result) -> dict[str, Any]:
    """The webhook's JSON answer the command printed after its first line."""
    found: dict[str, Any] = json.loads(done.stdout.split("\n", 1)[1])
    return found


def test_a_price_is_recorded_and_the_answer_printed(webhook: Webhook, tmp_path: Path) -> None:
    """A price with a token from a file lands in the ledger per kWh; a repeat is a duplicate."""
    ident = f"cli-price-{uuid.uuid4().hex[:8]}"
    token = secret_file(tmp_path, TOKEN)
    args = ("--zone", "CN-SH", "--price", "95", "--unit", "MWh", "--id", ident)
    args += ("--start", "2026-07-15T12:00:00+08:00")  # same id and start: a repeat
    done = send(*args, "--url", webhook.url, "--token-file", token)
    assert done.exit_code == 0, done.output
    assert answer(done) == {"accepted": 1, "duplicates": 0, "ignored": 0}
    row = webhook.signal(ident)
    assert row is not None
    assert (row.zone, row.kind, float(row.value or 0), row.unit) == (
        "shanghai",
        "price",
        0.095,
        "CNY/kWh",
    )
    again = send(*args, "--url", webhook.url, "--token-file", token)
    assert answer(again) == {"accepted": 0, "duplicates": 1, "ignored": 0}


def test_a_dr_order_signed_with_hmac_is_accepted(webhook: Webhook, tmp_path: Path) -> None:
    """A DR order from an operator that signs: token from the environment, HMAC key from a file."""
    ident = f"cli-dr-{uuid.uuid4().hex[:8]}"
    done = send(
        "--zone", "shanghai", "--dr-shed-kw", "800", "--start", "2026-07-15T18:00:00+08:00",
        "--end", "2026-07-15T19:00:00+08:00", "--id", ident, "--url", webhook.url,
        "--hmac-key-file", secret_file(tmp_path, HMAC_KEY),
        env={"GRIDSHIFT_SIGNAL_TOKEN": SIGNED_TOKEN},
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert answer(done)["accepted"] == 1
    row = webhook.signal(ident)
    assert row is not None
    assert (row.kind, float(row.value or 0)) == ("dr_event", 800.0)


def test_a_signing_operator_without_its_key_is_refused(webhook: Webhook) -> None:
    """Leaving out the signature the operator must send is a 401, printed plainly; exit 1."""
    done = send(
        "--zone",
        "shanghai",
        "--peak-level",
        "2",
        "--url",
        webhook.url,
        env={"GRIDSHIFT_SIGNAL_TOKEN": SIGNED_TOKEN},
    )
    assert done.exit_code == 1
    assert "refused the credentials (401)" in done.stderr
    assert "X-Gridshift-Signature" in done.stderr


def test_a_wrong_token_is_refused_with_a_clear_message(webhook: Webhook) -> None:
    """An unknown token: exit 1 and the webhook's reason, not a traceback."""
    done = send(
        "--zone",
        "shanghai",
        "--peak-level",
        "2",
        "--url",
        webhook.url,
        env={"GRIDSHIFT_SIGNAL_TOKEN": "nope"},
    )
    assert done.exit_code == 1
    assert (
        "refused the credentials (401): the bearer token is not one of a known grid operator"
        in done.stderr
    )


def test_an_unknown_zone_is_refused_with_the_webhooks_reason(webhook: Webhook) -> None:
    """A 422 from the webhook is shown with its detail; exit 1."""
    done = send(
        "--zone",
        "atlantis",
        "--peak-level",
        "1",
        "--url",
        webhook.url,
        env={"GRIDSHIFT_SIGNAL_TOKEN": TOKEN},
    )
    assert done.exit_code == 1
    assert "refused the signal (422)" in done.stderr
    assert "atlantis" in done.stderr


def test_an_unreachable_webhook_says_so() -> None:
    """Nobody listening on the URL: exit 1 naming the URL."""
    url = f"http://127.0.0.1:{free_port()}"
    done = send(
        "--zone",
        "shanghai",
        "--peak-level",
        "1",
        "--url",
        url,
        env={"GRIDSHIFT_SIGNAL_TOKEN": TOKEN},
    )
    assert done.exit_code == 1
    assert f"the webhook at {url}/v1/signals is unreachable" in done.stderr


def test_no_token_names_the_variable(webhook: Webhook) -> None:
    """Without --token-file or GRIDSHIFT_SIGNAL_TOKEN nothing is sent; exit 1."""
    done = send(
        "--zone",
        "shanghai",
        "--peak-level",
        "1",
        "--url",
        webhook.url,
        env={"GRIDSHIFT_SIGNAL_TOKEN": None},
    )
    assert done.exit_code == 1
    assert "GRIDSHIFT_SIGNAL_TOKEN" in done.stderr


def test_dry_run_prints_the_json_and_sends_nothing(webhook: Webhook) -> None:
    """--dry-run prints the body; the ledger never sees it."""
    ident = f"cli-dry-{uuid.uuid4().hex[:8]}"
    done = send(
        "--zone", "shanghai", "--peak-level", "3", "--id", ident, "--url", webhook.url, "--dry-run"
    )
    assert done.exit_code == 0, done.output
    (entry,) = json.loads(done.stdout)["signals"]
    assert (entry["type"], entry["level"], entry["id"]) == ("peakLevel", 3, ident)
    assert webhook.signal(ident) is None

"""``gridshift signal send``: post one native JSON signal to the webhook, as a grid operator would.

For operators testing their grid integration: the request is exactly what the webhook takes
(``POST /v1/signals``, bearer token, and an HMAC signature when a key is given), and the command
prints the webhook's answer. ``--dry-run`` prints the JSON instead of sending it.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from orchestrator import overview, views
from orchestrator.cli_fleet import fail
from orchestrator.errors import ConfigError, GridshiftError, SignalError
from orchestrator.signals.auth import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

TOKEN_VARIABLE = "GRIDSHIFT_SIGNAL_TOKEN"  # noqa: S105 (the name of a variable, not a token)
HMAC_VARIABLE = "GRIDSHIFT_SIGNAL_HMAC_KEY"
PATH = "/v1/signals"

signal = typer.Typer(
    help="Grid signals: send one to the webhook, as a grid integration would.",
    no_args_is_help=True,
)


def _time(text: str | None, *, flag: str) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise typer.BadParameter(
            f"{text!r} is not an RFC 3339 time with an offset (2026-07-15T18:00:00+08:00)",
            param_hint=flag,
        )
    return moment


def native_payload(
    *,
    zone: str,
    ident: str,
    start: datetime,
    end: datetime | None,
    price: float | None = None,
    currency: str = "CNY",
    unit: str = "kWh",
    peak_level: int | None = None,
    dr_shed_kw: float | None = None,
    response_deadline_seconds: int = 180,
) -> dict[str, Any]:
    """The ``{"signals": [...]}`` body of one price, peak level or DR order (exactly one)."""
    given = [v is not None for v in (price, peak_level, dr_shed_kw)]
    if sum(given) != 1:
        raise typer.BadParameter("give exactly one of --price, --peak-level and --dr-shed-kw")
    entry: dict[str, Any] = {"id": ident, "zone": zone, "start": start.isoformat()}
    if end is not None:
        entry["end"] = end.isoformat()
    if price is not None:
        entry.update(type="price", value=price, currency=currency, unit=unit)
    elif peak_level is not None:
        entry.update(type="peakLevel", level=peak_level)
    else:
        if end is None:
            raise typer.BadParameter(
                "a DR order needs --end (the end of its window)", param_hint="--end"
            )
        entry.update(
            type="drOrder", shedKW=dr_shed_kw, responseDeadlineSeconds=response_deadline_seconds
        )
    return {"signals": [entry]}


def _secret(path: Path | None, variable: str, *, what: str) -> str | None:
    if path is not None:
        try:
            value = path.read_text().strip()
        except OSError as exc:
            raise ConfigError(f"cannot read the {what} file {path}: {exc.strerror}") from exc
        if not value:
            raise ConfigError(f"the {what} file {path} is empty")
        return value
    return os.environ.get(variable, "").strip() or None


def post(
    url: str, body: bytes, *, token: str, hmac_key: str | None, timeout: float
) -> httpx.Response:
    """POST ``body`` to the webhook with the bearer token, signed when a key is given."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    if hmac_key is not None:
        stamp = int(time.time())
        headers[TIMESTAMP_HEADER] = str(stamp)
        headers[SIGNATURE_HEADER] = sign(body, key=hmac_key.encode(), timestamp=stamp)
    target = url.rstrip("/") + PATH
    try:
        return httpx.post(target, content=body, headers=headers, timeout=timeout)
    except httpx.TransportError as exc:
        raise SignalError(
            f"the webhook at {target} is unreachable ({exc or type(exc).__name__}); is "
            "`gridshift run` serving it there? (--url, or GRIDSHIFT_WEBHOOK_HOST/PORT)"
        ) from exc


def _detail(response: httpx.Response) -> str:
    try:
        found = response.json()
    except ValueError:
        return response.text[:500]
    if isinstance(found, dict) and "detail" in found:
        return str(found["detail"])
    return json.dumps(found)[:500]


@signal.command("send")
def send(
    zone: Annotated[str, typer.Option(help="GridZone name or gridZoneID (CN-SH).")],
    price: Annotated[
        float | None, typer.Option(help="A price per --unit.", show_default=False)
    ] = None,
    currency: Annotated[str, typer.Option(help="Currency of --price: CNY, EUR or USD.")] = "CNY",
    unit: Annotated[str, typer.Option(help="Unit of --price: kWh or MWh.")] = "kWh",
    peak_level: Annotated[
        int | None,
        typer.Option(min=0, max=3, help="A peak level: 0 none … 3 critical.", show_default=False),
    ] = None,
    dr_shed_kw: Annotated[
        float | None,
        typer.Option("--dr-shed-kw", help="A DR order: kW to shed.", show_default=False),
    ] = None,
    response_deadline_seconds: Annotated[
        int, typer.Option(min=30, max=3600, help="DR order: seconds from --start to shed by.")
    ] = 180,
    start: Annotated[
        str | None,
        typer.Option(help="Start, RFC 3339 with offset (default: now).", show_default=False),
    ] = None,
    end: Annotated[
        str | None, typer.Option(help="End, RFC 3339 with offset.", show_default=False)
    ] = None,
    ident: Annotated[
        str | None,
        typer.Option(
            "--id",
            help="The signal's id (default: a new one); same id and start: a repeat.",
            show_default=False,
        ),
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(
            help="Webhook base URL (default: http://$GRIDSHIFT_WEBHOOK_HOST:PORT).",
            show_default=False,
        ),
    ] = None,
    token_file: Annotated[
        Path | None,
        typer.Option(
            help=f"File holding the bearer token (default: ${TOKEN_VARIABLE}).", show_default=False
        ),
    ] = None,
    hmac_key_file: Annotated[
        Path | None,
        typer.Option(
            help=f"File holding the HMAC key, to sign (default: ${HMAC_VARIABLE}).",
            show_default=False,
        ),
    ] = None,
    timeout: Annotated[
        float, typer.Option(min=1, max=120, help="Seconds to wait for the answer.")
    ] = 10.0,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the JSON; send nothing.")
    ] = False,
) -> None:
    """Send one price, peak level or DR order to the signal webhook and print its answer."""
    begin = _time(start, flag="--start") or datetime.now(UTC).replace(microsecond=0)
    payload = native_payload(
        zone=zone,
        ident=ident or f"cli-{uuid.uuid4().hex[:16]}",
        start=begin,
        end=_time(end, flag="--end"),
        price=price,
        currency=currency,
        unit=unit,
        peak_level=peak_level,
        dr_shed_kw=dr_shed_kw,
        response_deadline_seconds=response_deadline_seconds,
    )
    body = json.dumps(payload, separators=(",", ":")).encode()
    console = views.make_console()
    if dry_run:
        console.print_json(body.decode())
        return
    try:
        token = _secret(token_file, TOKEN_VARIABLE, what="token")
        if token is None:
            raise ConfigError(
                f"no bearer token: pass --token-file or set {TOKEN_VARIABLE} to the grid "
                "operator's token (a key of the webhook's token Secret)"
            )
        key = _secret(hmac_key_file, HMAC_VARIABLE, what="HMAC key")
        if url is None:
            settings = overview.settings()
            url = f"http://{settings.webhook_host}:{settings.webhook_port}"
        answer = post(url, body, token=token, hmac_key=key, timeout=timeout)
    except GridshiftError as exc:
        raise fail(exc) from exc
    if answer.status_code == 401:
        raise fail(SignalError(f"the webhook refused the credentials (401): {_detail(answer)}"))
    if answer.is_error:
        raise fail(
            SignalError(f"the webhook refused the signal ({answer.status_code}): {_detail(answer)}")
        )
    console.print(f"sent {payload['signals'][0]['type']} {payload['signals'][0]['id']} to {url}")
    console.print_json(answer.text)

"""The signal webhook: FastAPI app built by :func:`create_app` from the dependencies it is given.

Endpoints (described by ``app.openapi()``, published on the operator's API port):

- ``POST /v1/signals``: native JSON batch (:mod:`orchestrator.signals.native`);
- ``GET /openadr/callback?echo=...``: the VTN's subscription check, answered with the value;
- ``POST /openadr/callback``: OpenADR 3 notifications;
- ``GET /healthz``.

Order of checks, each with its answer: body over the limit 413, not complete in time 408, too
many bodies arriving at once 503, a client gone before its body ended: nothing; no or unknown
bearer token, bad or stale signature 401; body not JSON 400; schema-invalid or unknown zone 422
naming the field; a zone whose ``gridOperators`` do not name the sender 403; the ledger
unreachable 503 (retry later). A request is answered 200 only after its signals are committed
to the ledger; a repeat of a signal is counted in ``duplicates`` and changes nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.concurrency import run_in_threadpool

from orchestrator import metrics
from orchestrator.errors import LedgerError, SignalError
from orchestrator.signals.auth import SIGNATURE_HEADER, TIMESTAMP_HEADER, AuthError
from orchestrator.signals.directory import ForbiddenZoneError, UnknownZoneError
from orchestrator.signals.ingest import Ingestor, Outcome
from orchestrator.signals.native import Accepted, Problem, SignalBatch
from orchestrator.signals.openadr import Notification

log = logging.getLogger(__name__)

DEFAULT_BODY_LIMIT = 1024 * 1024
DEFAULT_READ_SECONDS = 10.0
DEFAULT_MAX_CONCURRENT = 64
MAX_ECHO = 512
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "description": text}
    for code, text in (
        (400, "The body is not JSON."),
        (401, "No or unknown bearer token, or a bad or stale signature."),
        (403, "The zone does not name this grid operator in spec.gridOperators."),
        (408, "The body did not arrive in time."),
        (413, "The body is larger than the limit."),
        (422, "The body does not match the schema, or names an unknown zone."),
        (503, "The ledger is unavailable, or too many bodies arrive at once; retry later."),
    )
}


class _Incomplete(Exception):
    """The client went away before its body was complete."""


class _TooLarge(Exception):
    """The body grew past the limit."""


class BodyLimit:
    """ASGI middleware: every request body is read whole, within bounds, before the app runs.

    - over ``limit`` bytes (declared or sent): 413, before anything reads further;
    - not complete within ``read_seconds`` (a slow or stalled sender): 408;
    - cut off by the client disconnecting: nothing is processed and nothing answered;
    - more than ``max_concurrent`` bodies being received at once (before any of them can be
      authenticated, since a signature covers the body): 503 with ``Retry-After``, at once, so
      a flood of slow senders holds at most that many buffers and never the event loop; a
      request without a body (a probe's ``GET /healthz``) is never turned away.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        limit: int,
        read_seconds: float = DEFAULT_READ_SECONDS,
        max_concurrent: int = DEFAULT_MAX_CONCURRENT,
    ) -> None:
        self.app = app
        self.limit = limit
        self.read_seconds = read_seconds
        self.max_concurrent = max_concurrent
        self.reading = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        has_body = (declared is not None and declared != b"0") or b"transfer-encoding" in headers
        source: metrics.SignalSource = (
            "openadr" if str(scope.get("path", "")).startswith("/openadr") else "native"
        )
        too_large = _problem(413, f"the body is larger than {self.limit} bytes")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            metrics.signals_counted(source, "too_large")
            await too_large(scope, receive, send)
            return
        if has_body and self.reading >= self.max_concurrent:
            metrics.signals_counted(source, "too_busy")
            busy = _problem(
                503,
                f"more than {self.max_concurrent} request bodies are arriving at once; retry later",
                **{"Retry-After": "1"},
            )
            await busy(scope, receive, send)
            return
        self.reading += 1
        try:
            body = await asyncio.wait_for(self._read(receive), timeout=self.read_seconds)
        except _TooLarge:
            metrics.signals_counted(source, "too_large")
            await too_large(scope, receive, send)
            return
        except TimeoutError:
            metrics.signals_counted(source, "incomplete")
            late = _problem(408, f"the body did not arrive within {self.read_seconds:g} s")
            await late(scope, receive, send)
            return
        except _Incomplete:
            metrics.signals_counted(source, "incomplete")
            log.info("dropped a request whose client left before sending its whole body")
            return
        finally:
            self.reading -= 1
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _read(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                raise _Incomplete
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                raise _TooLarge
            chunks.append(chunk)
            more = message.get("more_body", False)
        return b"".join(chunks)


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"the number {text[:40]} is too large for a double")
    return value


def decode(body: bytes) -> object:
    """The JSON document in ``body``; ``ValueError`` for anything that is not plain JSON.

    Besides malformed text this refuses what Python's parser would otherwise raise past the
    handler or let through: integers over the interpreter's digit limit (a plain ValueError),
    nesting deep enough to exhaust the stack, numbers a double cannot hold (``1e999``), and
    ``NaN``/``Infinity``, which JSON does not have.
    """
    try:
        return json.loads(body, parse_constant=_no_constant, parse_float=_finite)
    except RecursionError as exc:
        raise ValueError("the document is nested too deeply") from exc


def _problem(status: int, detail: str, **headers: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers or None)


def _answer(outcome: Outcome) -> JSONResponse:
    body = Accepted(
        accepted=outcome.accepted, duplicates=outcome.duplicates, ignored=outcome.ignored
    )
    return JSONResponse(body.model_dump())


async def _handle(
    request: Request,
    ingestor: Ingestor,
    work: Callable[[Ingestor, str, object], Outcome],
    source: metrics.SignalSource,
) -> JSONResponse:
    body = await request.body()
    try:
        operator = ingestor.operator(
            authorization=request.headers.get("authorization"),
            body=body,
            timestamp=request.headers.get(TIMESTAMP_HEADER),
            signature=request.headers.get(SIGNATURE_HEADER),
        )
    except AuthError as exc:
        metrics.signals_counted(source, "rejected_auth")
        return _problem(401, str(exc), **{"WWW-Authenticate": "Bearer"})
    try:
        document = decode(body)
    except ValueError as exc:
        metrics.signals_counted(source, "rejected_malformed")
        return _problem(400, f"the body is not JSON: {exc}"[:300])
    try:
        outcome = await run_in_threadpool(work, ingestor, operator, document)
    except ForbiddenZoneError as exc:
        metrics.signals_counted(source, "rejected_auth")
        return _problem(403, str(exc)[:2000])
    except SignalError as exc:
        unknown = isinstance(exc, UnknownZoneError)
        result: metrics.SignalResult = "rejected_unknown_zone" if unknown else "rejected_malformed"
        metrics.signals_counted(source, result)
        return _problem(422, str(exc)[:2000])
    except LedgerError as exc:
        metrics.signals_counted(source, "ledger_unavailable")
        log.error("could not record signals operator=%s: %s", operator, exc)
        return _problem(503, "the ledger is unavailable; retry later", **{"Retry-After": "5"})
    metrics.signals_counted(source, "accepted", outcome.accepted)
    metrics.signals_counted(source, "duplicate", outcome.duplicates)
    metrics.signals_counted(source, "ignored", outcome.ignored)
    return _answer(outcome)


def _body_of(model: str) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{model}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}


def create_app(
    ingestor: Ingestor,
    *,
    body_limit: int = DEFAULT_BODY_LIMIT,
    read_seconds: float = DEFAULT_READ_SECONDS,
    max_concurrent: int = DEFAULT_MAX_CONCURRENT,
) -> FastAPI:
    """The webhook app over ``ingestor`` (its ledger sink, tokens, zones and clock).

    Serve it with uvicorn; wrap nothing else around it: the body limit is already inside.
    It serves no documentation of its own (the port is the one grid operators reach):
    ``app.openapi()`` is the document, which the operator's API port publishes.
    """
    app = FastAPI(
        title="gridshift signals",
        version="v1",
        description="Grid signals in: native JSON and OpenADR 3 notifications.",
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )

    @app.post(
        "/v1/signals",
        response_model=Accepted,
        responses=_ERRORS,
        openapi_extra=_body_of("SignalBatch"),
        summary="Record prices, peak levels, carbon figures and DR orders",
    )
    async def post_signals(request: Request) -> JSONResponse:
        return await _handle(request, ingestor, Ingestor.native, "native")

    @app.post(
        "/openadr/callback",
        response_model=Accepted,
        responses=_ERRORS,
        openapi_extra=_body_of("Notification"),
        summary="Take an OpenADR 3 notification (3.0.1 or 3.1.0, camelCase or snake_case)",
    )
    async def post_openadr(request: Request) -> JSONResponse:
        return await _handle(request, ingestor, Ingestor.openadr, "openadr")

    @app.get(
        "/openadr/callback",
        response_class=PlainTextResponse,
        response_model=None,
        responses={400: {"model": Problem, "description": "No or unusable echo value."}},
        summary="Answer a VTN's subscription check with the echo value",
    )
    async def echo(echo: str | None = None) -> PlainTextResponse | JSONResponse:
        if echo is None or not 0 < len(echo) <= MAX_ECHO or not echo.isprintable():
            return _problem(400, f"send ?echo=<1 to {MAX_ECHO} printable characters>")
        return PlainTextResponse(echo, headers={"X-Content-Type-Options": "nosniff"})

    @app.get("/healthz", response_class=PlainTextResponse, summary="Liveness")
    async def healthz() -> PlainTextResponse:
        return PlainTextResponse("ok")

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in (SignalBatch, Notification):
                found = model.model_json_schema(ref_template="#/components/schemas/{model}")
                components.update(found.pop("$defs", {}))
                components[model.__name__] = found
            schema["components"]["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer"}
            }
            for path in ("/v1/signals", "/openadr/callback"):
                schema["paths"][path]["post"]["security"] = [{"bearer": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.add_middleware(
        BodyLimit, limit=body_limit, read_seconds=read_seconds, max_concurrent=max_concurrent
    )
    return app

"""The model server process: listen, load, answer, drain on SIGTERM, exit (see the package doc)."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

from . import config as config_module
from . import http, openai
from .config import Config
from .metrics import Stats

log = logging.getLogger("modelserver")
READ_LIMIT = 1 << 16
ENDPOINTS = frozenset(
    {"/v1/completions", "/v1/chat/completions", "/v1/models", "/health", "/metrics"}
)
GENERATE = {"/v1/completions": "completion", "/v1/chat/completions": "chat"}


def process_age_seconds() -> float:
    """Seconds since this process started (Linux /proc); 0 when it cannot be read."""
    try:
        stat = open("/proc/self/stat").read()  # noqa: SIM115 - two tiny reads
        uptime = float(open("/proc/uptime").read().split()[0])  # noqa: SIM115
        started_ticks = int(stat.rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return 0.0
    return max(0.0, uptime - started_ticks / os.sysconf("SC_CLK_TCK"))


@dataclass
class _Connection:
    writer: asyncio.StreamWriter
    busy: bool = False


class ModelServer:
    """One server: its configuration, its figures and its connections."""

    def __init__(self, config: Config) -> None:
        self.config = config
        warm = config.starts_warm()
        self.stats = Stats(
            model=config.model, load_seconds=config.load_seconds(warm=warm), warm=warm
        )
        self._connections: dict[asyncio.Task[None], _Connection] = {}
        self._in_flight = 0
        self._load_deadline = 0.0
        # asyncio's primitives bind to the running loop on first use, not here
        self._slots = asyncio.Semaphore(config.max_num_seqs)
        self._idle = asyncio.Event()
        self._idle.set()
        self._stop = asyncio.Event()
        self._headers = {
            "Server": "gridshift-modelserver",
            "X-Gridshift-Cluster": _header_value(config.cluster),
            "X-Gridshift-Pod": _header_value(config.pod_name),
        }

    async def serve(self) -> int:
        """Run until SIGTERM/SIGINT and the drain are over; the exit code."""
        loop = asyncio.get_running_loop()
        remaining = max(0.0, self.stats.load_seconds - process_age_seconds())
        self._load_deadline = loop.time() + remaining
        try:
            server = await asyncio.start_server(
                self._serve_connection, self.config.host, self.config.port, limit=READ_LIMIT
            )
        except OSError as exc:
            log.error("could not listen on %s:%s: %s", self.config.host, self.config.port, exc)
            return 1
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._stop.set)
        log.info(
            "listening on %s:%s; model %s, %s GB, %s start: loaded in %.1f s from process start",
            self.config.host,
            self.config.port,
            self.config.model,
            self.config.model_size_gb,
            "warm" if self.stats.warm else "cold",
            self.stats.load_seconds,
        )
        loader = asyncio.create_task(self._load(remaining))
        await self._stop.wait()
        loader.cancel()
        self.stats.draining = True
        server.close()  # new connections are refused from here on
        log.info("SIGTERM: refusing new connections; %d request(s) in flight", self._in_flight)
        for state in self._connections.values():
            if not state.busy:
                state.writer.close()
        await self._drain()
        return 0

    async def _load(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        self.stats.loaded = True
        log.info("weights loaded: answering")
        marker = self.config.warm_marker
        if marker is not None:
            try:
                marker.parent.mkdir(parents=True, exist_ok=True)
                marker.touch()
            except OSError as exc:
                log.warning("could not write the warm marker %s: %s", marker, exc)

    async def _drain(self) -> None:
        try:
            await asyncio.wait_for(self._idle.wait(), timeout=self.config.shutdown_timeout)
            log.info("every request in flight finished; exiting")
        except TimeoutError:
            log.warning(
                "shutdown timeout (%.0f s) passed: cutting %d request(s)",
                self.config.shutdown_timeout,
                self._in_flight,
            )
        tasks = list(self._connections)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        if task is None:  # asyncio runs every connection callback as a task
            raise RuntimeError("a connection is served outside an asyncio task")
        state = _Connection(writer)
        self._connections[task] = state
        try:
            keep_alive = True
            while keep_alive and not writer.is_closing():
                try:
                    request = await http.read_request(reader)
                except http.BadRequest as exc:
                    body = openai.error_body(exc.status, str(exc), "BadRequestError")
                    await self._send_json(writer, "other", exc.status, body, keep_alive=False)
                    return
                if request is None:
                    return
                state.busy = True
                keep_alive = await self._dispatch(request, writer)
                state.busy = False
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            del self._connections[task]
            writer.close()

    async def _dispatch(self, request: http.Request, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; whether the connection stays open."""
        path = request.path if request.path in ENDPOINTS else "other"
        keep = request.keep_alive and not self.stats.draining
        wanted = "POST" if path in GENERATE else "GET"
        if path == "other":
            body = openai.error_body(404, f"no route {request.path}", "NotFoundError")
            await self._send_json(writer, path, 404, body, keep_alive=keep)
        elif request.method != wanted:
            body = openai.error_body(405, f"use {wanted} {path}", "MethodNotAllowed")
            await self._send_json(writer, path, 405, body, keep_alive=keep)
        elif path == "/metrics":
            self.stats.responses[(path, 200)] += 1
            await http.send(
                writer,
                200,
                self.stats.render().encode(),
                content_type="text/plain; version=0.0.4; charset=utf-8",
                headers=self._headers,
                keep_alive=keep,
            )
        elif not self.stats.loaded or self.stats.draining:
            await self._unavailable(writer, path, keep_alive=keep)
        elif path == "/health":
            self.stats.responses[(path, 200)] += 1
            await http.send(
                writer, 200, b"", content_type="text/plain", headers=self._headers, keep_alive=keep
            )
        elif path == "/v1/models":
            await self._send_json(writer, path, 200, self._models(), keep_alive=keep)
        else:
            return await self._generate(request, writer, path, keep_alive=keep)
        return keep

    def _models(self) -> dict[str, object]:
        created = int(time.time() - process_age_seconds())
        card = {
            "id": self.config.model,
            "object": "model",
            "created": created,
            "owned_by": "gridshift",
            "root": self.config.model,
            "max_model_len": self.config.max_model_len,
        }
        return {"object": "list", "data": [card]}

    async def _unavailable(
        self, writer: asyncio.StreamWriter, path: str, *, keep_alive: bool
    ) -> None:
        if self.stats.draining:
            message, headers = "the server is shutting down", {"Connection": "close"}
        else:
            left = self._load_deadline - asyncio.get_running_loop().time()
            message = f"the model is loading its weights ({max(0.0, left):.1f} s left)"
            headers = {"Retry-After": str(max(1, math.ceil(left)))}
        body = openai.error_body(503, message, "ServiceUnavailableError")
        await self._send_json(writer, path, 503, body, keep_alive=keep_alive, extra=headers)

    async def _send_json(
        self,
        writer: asyncio.StreamWriter,
        path: str,
        status: int,
        payload: object,
        *,
        keep_alive: bool,
        extra: dict[str, str] | None = None,
    ) -> None:
        self.stats.responses[(path, status)] += 1
        headers = {**self._headers, **(extra or {})}
        await http.send_json(writer, status, payload, headers=headers, keep_alive=keep_alive)

    async def _generate(
        self, request: http.Request, writer: asyncio.StreamWriter, path: str, *, keep_alive: bool
    ) -> bool:
        kind: openai.Kind = "chat" if GENERATE[path] == "chat" else "completion"
        try:
            gen = openai.parse(
                kind,
                request.body,
                model=self.config.model,
                default_max_tokens=self.config.default_max_tokens,
                max_model_len=self.config.max_model_len,
            )
        except openai.InvalidRequest as exc:
            body = openai.error_body(exc.status, str(exc), exc.kind)
            await self._send_json(writer, path, exc.status, body, keep_alive=keep_alive)
            return keep_alive
        self._in_flight += 1
        self._idle.clear()
        self.stats.prompt_tokens += gen.prompt_tokens
        self.stats.waiting += 1
        waiting = True
        try:
            async with self._slots:
                self.stats.waiting -= 1
                waiting = False
                self.stats.running += 1
                try:
                    if gen.stream:
                        await self._stream(gen, writer, path, keep_alive=keep_alive)
                    else:
                        await self._pace(gen, None)
                        await self._send_json(
                            writer, path, 200, openai.full_answer(gen), keep_alive=keep_alive
                        )
                finally:
                    self.stats.running -= 1
            self.stats.finished[gen.answer.finish_reason] += 1
        except (ConnectionError, asyncio.CancelledError):
            self.stats.aborted += 1
            raise
        finally:
            if waiting:
                self.stats.waiting -= 1
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()
        return keep_alive

    async def _pace(self, gen: openai.Generation, stream: http.EventStream | None) -> None:
        """Emit the answer's tokens at the configured rate, counted as they are generated."""
        loop = asyncio.get_running_loop()
        start, rate = loop.time(), self.config.tokens_per_second
        for index, text in enumerate(gen.answer.tokens):
            await asyncio.sleep(max(0.0, start + (index + 1) / rate - loop.time()))
            self.stats.generation_tokens += 1
            if stream is not None:
                await stream.event(_dumps(openai.chunk(gen, text=text, finish_reason=None)))

    async def _stream(
        self, gen: openai.Generation, writer: asyncio.StreamWriter, path: str, *, keep_alive: bool
    ) -> None:
        stream = http.EventStream(writer)
        self.stats.responses[(path, 200)] += 1
        await stream.start(self._headers, keep_alive=keep_alive)
        if gen.kind == "chat":
            await stream.event(_dumps(openai.chunk(gen, text=None, finish_reason=None)))
        await self._pace(gen, stream)
        finish = gen.answer.finish_reason
        await stream.event(_dumps(openai.chunk(gen, text=None, finish_reason=finish)))
        if gen.include_usage:
            await stream.event(_dumps(openai.usage_chunk(gen, len(gen.answer.tokens))))
        await stream.event("[DONE]")
        await stream.end()


def _dumps(payload: object) -> str:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def _header_value(text: str) -> str:
    return "".join(ch for ch in text if ch.isprintable()) or "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the flags, serve, and return the exit code."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr
    )
    config = config_module.parse(sys.argv[1:] if argv is None else argv)
    return asyncio.run(ModelServer(config).serve())

"""Logging for ``gridshift run``: plain text for people, or one JSON object per line for machines.

A JSON line holds ``time`` (RFC 3339, UTC, milliseconds), ``level``, ``logger`` and ``message``,
then the record's key-values: those passed with ``extra={...}``, and the ``key=value`` words of
the message itself, which is how gridshift names objects in its logs
(``migration=moves/chat-a entered phase=WarmingUp``)::

    {"time": "2025-07-14T11:02:03.120Z", "level": "INFO",
     "logger": "orchestrator.migration.move",
     "message": "migration=moves/chat-a entered phase=WarmingUp reason=Provisioned",
     "migration": "moves/chat-a", "phase": "WarmingUp", "reason": "Provisioned"}

A key never replaces one of the four fixed fields; an exception's traceback goes in
``exception``. Credentials are never written: :func:`redact` masks URL passwords, bearer tokens
and query parameters that carry a token, key, secret or password in every record (and in the
texts gridshift puts into status), and httpx's per-request INFO lines are not logged at all.
This module imports nothing of gridshift: any layer may use it.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Literal, TextIO

LogFormat = Literal["text", "json"]
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
FIXED = ("time", "level", "logger", "message")
_PAIR = re.compile(r"^([a-z][a-z0-9_]{0,40})=(\S+)$")
_TRAILING = ",;:)"
MASK = "***"
_SECRET_PARAM = re.compile(
    r"(?i)([?&;](?:[a-z0-9_.-]*(?:token|key|secret|password|passwd|signature|credential)"
    r"[a-z0-9_.-]*|auth|pwd|code)=)[^&#\s'\"<>]+"
)
_USERINFO = re.compile(r"(?i)([a-z][a-z0-9+.-]*://[^/\s:@]*:)[^@\s/]+@")
_BEARER = re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=-]+")
_RECORD_FIELDS = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys()
    | {"message", "asctime", "taskName"}
)


def pairs(message: str) -> dict[str, str]:
    """The ``key=value`` words of ``message`` (lower-case keys; trailing punctuation dropped)."""
    found: dict[str, str] = {}
    for word in message.split():
        match = _PAIR.match(word)
        if match is not None:
            value = match.group(2).rstrip(_TRAILING)
            if value:
                found.setdefault(match.group(1), value)
    return found


def redact(text: str) -> str:
    """``text`` with credentials masked: ``user:***@`` in URLs, ``Bearer ***``, and ``***`` for
    query parameters named like a token, key, secret, password or signature."""
    text = _USERINFO.sub(rf"\g<1>{MASK}@", text)
    text = _SECRET_PARAM.sub(rf"\g<1>{MASK}", text)
    return _BEARER.sub(rf"\g<1>\g<2>{MASK}", text)


class Redacting(logging.Filter):
    """Masks credentials in a record's message (and exception text) before any handler writes it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line; values that are not JSON become strings."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": message,
        }
        for key, value in record.__dict__.items():
            if key not in _RECORD_FIELDS and not key.startswith("_") and key not in line:
                line[key] = value
        for key, value in pairs(message).items():
            line.setdefault(key, value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def configure(
    *, level: str = "INFO", fmt: LogFormat = "text", stream: TextIO | None = None
) -> logging.Handler:
    """Send every log record at ``level`` or above to ``stream`` (stderr) in ``fmt``.

    Replaces the root logger's handlers, so calling it twice does not print lines twice.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(Redacting())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # the Kubernetes client's retry chatter repeats what gridshift reports once
    logging.getLogger("urllib3").setLevel(logging.ERROR)
    # httpx logs every request's full URL at INFO (an ENTSO-E securityToken rides in the query)
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # APScheduler notes every run of every job (one every 2 s); failures still show
    logging.getLogger("apscheduler.executors").setLevel(logging.WARNING)
    return handler

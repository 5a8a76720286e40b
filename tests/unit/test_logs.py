"""Logs as JSON lines: fixed fields, the record's key-values, exceptions; the setting picks it."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from datetime import datetime

import pytest
from pydantic import ValidationError

from orchestrator.logs import JsonFormatter, configure, pairs
from orchestrator.settings import Settings


def _record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord(
        "orchestrator.migration.engine", logging.INFO, __file__, 1, message, args, None
    )
    record.__dict__.update(extra)
    return record


def _line(record: logging.LogRecord) -> dict[str, object]:
    text = JsonFormatter().format(record)
    assert "\n" not in text
    parsed: dict[str, object] = json.loads(text)
    return parsed


@pytest.fixture
def root() -> Iterator[logging.Logger]:
    """The root logger, restored after the test."""
    logger = logging.getLogger()
    handlers, level = list(logger.handlers), logger.level
    yield logger
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    for handler in handlers:
        logger.addHandler(handler)
    logger.setLevel(level)


# -- the JSON line ---------------------------------------------------------------------------


def test_a_line_has_time_level_logger_and_message() -> None:
    """The four fixed fields, the message formatted with its arguments, time in UTC."""
    line = _line(_record("migration=%s entered phase=%s", "moves/chat-a", "WarmingUp"))
    assert line["level"] == "INFO"
    assert line["logger"] == "orchestrator.migration.engine"
    assert line["message"] == "migration=moves/chat-a entered phase=WarmingUp"
    assert isinstance(line["time"], str)
    assert line["time"].endswith("Z")
    assert datetime.fromisoformat(line["time"].replace("Z", "+00:00")).utcoffset() is not None


def test_key_values_of_the_message_become_fields() -> None:
    """`migration=ns/name` in the message is a `migration` field; punctuation is dropped."""
    line = _line(_record("migration=%s step=%s failed: boom", "moves/chat-a", "provision"))
    assert line["migration"] == "moves/chat-a"
    assert line["step"] == "provision"
    assert pairs("gridzone=shanghai, source=tou:sh") == {"gridzone": "shanghai", "source": "tou:sh"}
    assert pairs("no pairs here = nope; URL=http://x") == {}


def test_extra_values_are_fields_and_anything_becomes_json() -> None:
    """`extra=` values are kept; values JSON cannot hold are written as strings."""
    line = _line(_record("applied", k8s_ref={"name": "chat-a"}, when=datetime(2025, 7, 14)))
    assert line["k8s_ref"] == {"name": "chat-a"}
    assert line["when"] == "2025-07-14 00:00:00"


def test_a_key_value_never_replaces_a_fixed_field() -> None:
    """A message saying `level=x` or `message=y` keeps the real level and message."""
    line = _line(_record("level=DEBUG logger=evil message=spoofed time=0"))
    assert line["level"] == "INFO"
    assert line["logger"] == "orchestrator.migration.engine"
    assert line["message"] == "level=DEBUG logger=evil message=spoofed time=0"
    assert line["time"] != "0"


def test_an_exception_is_kept_with_its_traceback() -> None:
    """exc_info lands in `exception`, on the same single line."""
    try:
        raise ValueError("the ledger said no")
    except ValueError:
        record = _record("ledger write failed")
        record.exc_info = sys.exc_info()
    line = _line(record)
    assert "ValueError: the ledger said no" in str(line["exception"])
    assert "Traceback" in str(line["exception"])


# -- configuration ---------------------------------------------------------------------------


def test_configure_json_writes_json_lines_once(root: logging.Logger) -> None:
    """Configured twice, a record is still written once, as JSON."""
    stream = io.StringIO()
    configure(level="INFO", fmt="json", stream=stream)
    configure(level="INFO", fmt="json", stream=stream)
    logging.getLogger("orchestrator.test").info("gridzone=%s reconciled", "hubei")
    logging.getLogger("orchestrator.test").debug("below the level")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0])["gridzone"] == "hubei"


def test_configure_text_writes_readable_lines(root: logging.Logger) -> None:
    """The default format is one readable line: time, level, logger, message."""
    stream = io.StringIO()
    configure(level="WARNING", fmt="text", stream=stream)
    logging.getLogger("orchestrator.test").warning("migration=%s rolled back", "moves/x")
    text = stream.getvalue()
    assert " WARNING orchestrator.test migration=moves/x rolled back" in text
    assert not text.startswith("{")


def test_the_log_format_setting_takes_text_or_json(monkeypatch: pytest.MonkeyPatch) -> None:
    """GRIDSHIFT_LOG_FORMAT is text by default, json when asked, refused otherwise."""
    assert Settings().log_format == "text"
    monkeypatch.setenv("GRIDSHIFT_LOG_FORMAT", "json")
    assert Settings().log_format == "json"
    monkeypatch.setenv("GRIDSHIFT_LOG_FORMAT", "xml")
    with pytest.raises(ValidationError, match="log_format"):
        Settings()

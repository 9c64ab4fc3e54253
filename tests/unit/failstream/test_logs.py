"""failstream.logs: one root handler, text or one JSON object per line, libraries routed through it."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import redirect_stderr

import pytest
from pydantic import ValidationError

from failstream.api import log_redaction
from failstream.logs import LIBRARY_LOGGERS, LogFormat, RepeatFilter, _FailstreamHandler, configure_logging
from failstream.settings import Settings


@pytest.fixture
def stderr() -> Iterator[io.StringIO]:
    """What the configured handler writes; the logging state is restored afterwards."""
    root = logging.getLogger()
    saved_level, saved_handlers = root.level, list(root.handlers)
    libraries = {
        name: (lg.level, lg.propagate, list(lg.handlers))
        for name, lg in ((n, logging.getLogger(n)) for n in LIBRARY_LOGGERS)
    }
    saved_hook = sys.excepthook
    yield io.StringIO()
    for handler in [h for h in root.handlers if isinstance(h, _FailstreamHandler)]:
        root.removeHandler(handler)
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)
    for name, (level, propagate, handlers) in libraries.items():
        library = logging.getLogger(name)
        library.setLevel(level)
        library.propagate = propagate
        library.handlers[:] = handlers
    logging.captureWarnings(False)
    sys.excepthook = saved_hook


def _configure(stderr: io.StringIO, level: str, fmt: LogFormat) -> None:
    """``configure_logging`` while ``stderr`` is the process's stderr (pytest swaps it per phase)."""
    with redirect_stderr(stderr):
        configure_logging(level, fmt)


def _lines(buffer: io.StringIO) -> list[str]:
    return [line for line in buffer.getvalue().splitlines() if line]


def test_json_format_writes_one_object_per_line_with_the_required_fields(stderr: io.StringIO) -> None:
    _configure(stderr, "INFO", "json")
    log = logging.getLogger("failstream.alerting")
    log.info("alert %s suppressed by %s", "ip-failures|1.2.3.4|1", "silence",
             extra={"alert_key": "ip-failures|1.2.3.4|1"})  # fmt: skip
    log.warning("bad event\nsecond line", extra={"event_id": "01HXYZ"})
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("crashed")

    lines = _lines(stderr)
    assert len(lines) == 3
    docs = [json.loads(line) for line in lines]
    for doc in docs:
        assert {"time", "level", "logger", "message", "process"} <= doc.keys()
        assert doc["logger"] == "failstream.alerting"
        assert isinstance(doc["process"], int)
        assert doc["time"].endswith("+00:00")
    assert docs[0]["message"] == "alert ip-failures|1.2.3.4|1 suppressed by silence"
    assert docs[0]["level"] == "INFO"
    assert docs[0]["alert_key"] == "ip-failures|1.2.3.4|1"
    assert "event_id" not in docs[0]
    assert docs[1]["message"] == "bad event\nsecond line"
    assert docs[1]["event_id"] == "01HXYZ"
    assert "alert_key" not in docs[1]
    assert docs[2]["level"] == "ERROR"
    assert "ValueError: boom" in docs[2]["exception"]


def test_text_format_is_time_level_logger_message(stderr: io.StringIO) -> None:
    _configure(stderr, "INFO", "text")
    logging.getLogger("failstream.stream").info("Kafka %s", "127.0.0.1:9092")
    (line,) = _lines(stderr)
    assert line.endswith(" INFO failstream.stream Kafka 127.0.0.1:9092")


def test_the_level_setting_applies(stderr: io.StringIO) -> None:
    _configure(stderr, "warning", "json")
    log = logging.getLogger("failstream.api")
    log.info("not shown")
    log.warning("shown")
    assert [json.loads(line)["message"] for line in _lines(stderr)] == ["shown"]
    assert logging.getLogger().level == logging.WARNING


def test_configuring_again_keeps_one_handler_and_takes_the_new_format(stderr: io.StringIO) -> None:
    _configure(stderr, "INFO", "text")
    _configure(stderr, "INFO", "text")
    _configure(stderr, "DEBUG", "json")
    ours = [h for h in logging.getLogger().handlers if isinstance(h, _FailstreamHandler)]
    assert len(ours) == 1
    logging.getLogger("failstream").debug("once")
    (line,) = _lines(stderr)
    assert json.loads(line)["message"] == "once"


def test_library_loggers_propagate_through_the_one_handler(stderr: io.StringIO) -> None:
    access = logging.getLogger("uvicorn.access")
    access.addHandler(logging.StreamHandler(io.StringIO()))  # as uvicorn's own log config would
    access.propagate = False
    logging.getLogger("mode").setLevel(logging.CRITICAL)
    _configure(stderr, "INFO", "json")
    for name in ("uvicorn.error", "faust.worker", "mode.services", "aiokafka.consumer"):
        logging.getLogger(name).info("from %s", name)
    assert access.handlers == [] and access.propagate
    assert [json.loads(line)["logger"] for line in _lines(stderr)] == [
        "uvicorn.error", "faust.worker", "mode.services", "aiokafka.consumer"
    ]  # fmt: skip


def test_api_keys_stay_redacted_in_the_access_log(stderr: io.StringIO) -> None:
    _configure(stderr, "INFO", "json")
    log_redaction.install()
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", "/api/v1/live?api_key=s3cret-key", "1.1", 200
    )
    (line,) = _lines(stderr)
    assert "s3cret-key" not in line
    assert "api_key=***" in json.loads(line)["message"]


def test_warnings_and_crashes_become_json_lines(stderr: io.StringIO) -> None:
    _configure(stderr, "INFO", "json")
    logging.getLogger("py.warnings").warning("a library warned")  # what captureWarnings emits
    try:
        raise RuntimeError("unhandled")
    except RuntimeError as exc:
        sys.excepthook(type(exc), exc, exc.__traceback__)
    docs = [json.loads(line) for line in _lines(stderr)]
    assert docs[0]["logger"] == "py.warnings"
    assert docs[1]["level"] == "CRITICAL"
    assert "RuntimeError: unhandled" in docs[1]["exception"]
    _configure(stderr, "INFO", "text")
    assert sys.excepthook is sys.__excepthook__


def test_settings_validate_level_and_format() -> None:
    assert Settings(log_level="debug").log_level == "DEBUG"
    assert Settings().log_level == "INFO" and Settings().log_format == "text"
    with pytest.raises(ValidationError, match="unknown log level"):
        Settings(log_level="verbose")
    with pytest.raises(ValidationError):
        Settings(log_format="xml")  # type: ignore[arg-type]


def test_a_library_repeating_a_connection_error_is_shown_once_a_minute_with_a_count() -> None:
    now = [0.0]
    repeats = RepeatFilter(every_s=60, clock=lambda: now[0])

    def record(name: str, level: int, msg: str) -> logging.LogRecord:
        return logging.LogRecord(name, level, __file__, 1, msg, ("1",), None)

    first = record("aiokafka.conn", logging.ERROR, "Unable connect to node with id %s")
    assert repeats.filter(first)
    for second in range(1, 60):
        now[0] = second
        assert not repeats.filter(record("aiokafka.conn", logging.ERROR, "Unable connect to node with id %s"))
    now[0] = 61
    again = record("aiokafka.conn", logging.ERROR, "Unable connect to node with id %s")
    assert repeats.filter(again)
    assert again.getMessage() == "Unable connect to node with id 1 (59 more like this in the last 61 s)"
    # Failstream's own lines and a library's info lines are never held back
    assert all(repeats.filter(record("failstream.stream", logging.ERROR, "kafka is down")) for _ in range(3))
    assert all(repeats.filter(record("aiokafka.consumer", logging.INFO, "Joined group %s")) for _ in range(3))

"""One logging set-up for every Failstream process.

Each process entry point calls ``configure_logging`` once with
``FAILSTREAM_LOG_LEVEL`` and ``FAILSTREAM_LOG_FORMAT``: one handler on the
root logger, writing to stderr, either the text lines Failstream always
wrote or one JSON object per line for a log shipper. The libraries that
bring a logging set-up of their own (uvicorn, Faust and mode, aiokafka) are
made to propagate to that handler instead, so a process writes one format.

A log call that concerns one alert or one event says so with
``extra={"alert_key": ...}`` or ``extra={"event_id": ...}``; the JSON lines
carry it as a field of its own.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import Literal, TextIO

LogFormat = Literal["text", "json"]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"

#: record attributes (set with ``extra=``) that a JSON line carries when a record has them
CONTEXT_FIELDS = ("alert_key", "event_id")

#: loggers that libraries may give handlers, levels or ``propagate=False`` of their own
LIBRARY_LOGGERS = (
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "uvicorn.asgi",
    "faust",
    "mode",
    "aiokafka",
)


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line: newlines in a message or traceback are escaped."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        for field in CONTEXT_FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                document[field] = value
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            document["stack"] = self.formatStack(record.stack_info)
        return json.dumps(document, ensure_ascii=False, default=str)


#: libraries that log every failed connection attempt, several times a second while a broker
#: is away: their repeats are folded (Failstream's own lines say "down" and "back" once)
CHATTY_LIBRARIES = ("aiokafka", "kafka", "faust", "mode")
#: a library's line is shown again, with the count of those held back, after this long
REPEAT_EVERY_S = 60.0


class RepeatFilter(logging.Filter):
    """Show a library's warning or error once a minute, with how many like it were held back.

    "Like it" is the same logger and message template: aiokafka's "Unable
    connect to node with id %s" for a minute is one line and a count, not
    thousands of lines that bury the one saying "kafka is down".
    """

    def __init__(self, every_s: float = REPEAT_EVERY_S, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.every_s = every_s
        self._clock = clock
        self._seen: dict[tuple[str, object], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or not record.name.startswith(CHATTY_LIBRARIES):
            return True
        key = (record.name, record.msg)
        now = self._clock()
        shown_at, held = self._seen.get(key, (None, 0))
        if shown_at is not None and now - shown_at < self.every_s:
            self._seen[key] = (shown_at, held + 1)
            return False
        if held and shown_at is not None:
            record.msg = f"{record.msg} ({held} more like this in the last {now - shown_at:.0f} s)"
        if len(self._seen) > 1000:  # templates, not values: a handful in practice
            self._seen.clear()
        self._seen[key] = (now, 0)
        return True


class _FailstreamHandler(logging.StreamHandler[TextIO]):
    """The one root handler ``configure_logging`` owns (found again by its type)."""


def _formatter(fmt: LogFormat) -> logging.Formatter:
    return JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT)


def _log_uncaught(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    """A crash in JSON mode is one more JSON line, traceback included, not raw text."""
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        return
    logging.getLogger("failstream").critical("uncaught exception", exc_info=(exc_type, exc, tb))


def configure_logging(level: str, fmt: LogFormat) -> None:
    """Send every logger of this process to one stderr handler at ``level`` in ``fmt``.

    Idempotent: a second call reconfigures the same handler (never adds one).
    Handlers others put on the root logger (a test's capture) are left alone.
    """
    root = logging.getLogger()
    handler = next((h for h in root.handlers if isinstance(h, _FailstreamHandler)), None)
    if handler is None:
        handler = _FailstreamHandler(sys.stderr)
        handler.addFilter(RepeatFilter())
        root.addHandler(handler)
    else:
        handler.setStream(sys.stderr)  # the stderr of now (a test may have swapped it)
    handler.setFormatter(_formatter(fmt))
    root.setLevel(level.upper())
    for name in LIBRARY_LOGGERS:
        library = logging.getLogger(name)
        for own in list(library.handlers):
            library.removeHandler(own)
        library.setLevel(logging.NOTSET)
        library.propagate = True
    logging.captureWarnings(True)  # warnings.warn(...) as log records, in the same format
    if fmt == "json":
        sys.excepthook = _log_uncaught
    elif sys.excepthook is _log_uncaught:
        sys.excepthook = sys.__excepthook__

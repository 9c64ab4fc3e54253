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


class _FailstreamHandler(logging.StreamHandler[TextIO]):
    """The one root handler ``configure_logging`` owns (found again by its type)."""


def _formatter(fmt: LogFormat) -> logging.Formatter:
    return JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT)


def _log_uncaught(
    exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> None:
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

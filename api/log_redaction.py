"""Keep API keys out of uvicorn's access log.

A browser's ``EventSource`` cannot send headers, so the live stream also
accepts ``?api_key=``; uvicorn logs every request's full path, query string
included (and WebSocket handshakes with theirs). This filter masks the key
in those lines before any handler sees them.
"""

from __future__ import annotations

import logging
import re

_KEY_IN_QUERY = re.compile(r"(?i)([?&]api_key=)[^&\s]*")


class RedactApiKeys(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _KEY_IN_QUERY.sub(r"\1***", arg) if isinstance(arg, str) else arg for arg in record.args
            )
        elif isinstance(record.msg, str):
            record.msg = _KEY_IN_QUERY.sub(r"\1***", record.msg)
        return True


def install() -> None:
    """Idempotent: one filter per logger however many apps a process creates.

    HTTP requests are logged on ``uvicorn.access``; WebSocket handshakes
    (``"WebSocket /api/v1/live?api_key=..." [accepted]``) on ``uvicorn.error``.
    """
    for name in ("uvicorn.access", "uvicorn.error"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactApiKeys) for f in logger.filters):
            logger.addFilter(RedactApiKeys())

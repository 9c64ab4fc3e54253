"""Keep API keys out of uvicorn's access log.

A browser's ``EventSource`` cannot send headers, so the live stream also
accepts ``?api_key=``; uvicorn logs every request's full path, query string
included (and WebSocket handshakes with theirs). This filter masks the key
in those lines before any handler sees them.

The name is matched however a client spells it: Starlette percent-decodes
query names (``api%5Fkey`` and ``%61pi_key`` are ``api_key`` to the app), so
each parameter's name is decoded (repeatedly, up to a bound, for ``%255F``),
``+`` read as a space and trimmed, and compared without regard to case.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote_plus

#: one query parameter: what precedes it, its name, and its value up to the next separator
_PARAM = re.compile(r"(?P<lead>[?&;])(?P<name>[^=&;?#\s\"]*)=(?P<value>[^&;#\s\"]*)")
_MAX_DECODES = 4


def _plain_name(name: str) -> str:
    for _ in range(_MAX_DECODES):
        decoded = unquote_plus(name)
        if decoded == name:
            break
        name = decoded
    return name.strip().casefold()


def _mask(match: re.Match[str]) -> str:
    if _plain_name(match["name"]) == "api_key":
        return f"{match['lead']}{match['name']}=***"
    return match.group(0)


def redact(text: str) -> str:
    """``text`` with the value of every ``api_key`` query parameter replaced by ``***``."""
    return _PARAM.sub(_mask, text) if "=" in text else text


class RedactApiKeys(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in record.args)
        elif isinstance(record.msg, str):
            record.msg = redact(record.msg)
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

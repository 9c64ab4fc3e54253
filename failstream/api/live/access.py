"""Where a live client's API key may come from, and the resume point it asks for.

Browsers can set no header on a WebSocket or an ``EventSource``, so besides
the REST API's ``X-API-Key`` header a live client may offer its key

- as a WebSocket subprotocol ``apikey.<base64url(key)>`` next to
  ``failstream.live.v1`` (what the dashboard does: the key stays out of URLs
  and so out of access logs; the server answers with ``failstream.live.v1``
  and never echoes the key), or
- as the query parameter ``?api_key=`` (for ``EventSource`` and quick
  tests; the key then appears in access logs, so prefer the others).

The scope check itself is ``api.auth.scope_of``: one place compares keys.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping

SUBPROTOCOL = "failstream.live.v1"
KEY_SUBPROTOCOL_PREFIX = "apikey."


def key_from_subprotocols(offered: Iterable[str]) -> str | None:
    for protocol in offered:
        if protocol.startswith(KEY_SUBPROTOCOL_PREFIX):
            encoded = protocol.removeprefix(KEY_SUBPROTOCOL_PREFIX)
            try:
                padded = encoded + "=" * (-len(encoded) % 4)
                raw = base64.b64decode(padded, altchars=b"-_", validate=True)
                return raw.decode() or None
            except (binascii.Error, UnicodeDecodeError):
                return None
    return None


def offered_key(
    headers: Mapping[str, str], query: Mapping[str, str], subprotocols: Iterable[str] = ()
) -> str | None:
    """The key a live client offers: header first, then subprotocol, then query."""
    return headers.get("x-api-key") or key_from_subprotocols(subprotocols) or query.get("api_key") or None


class BadResumePoint(ValueError):
    """``since`` / ``Last-Event-ID`` is not a second's ``ts``."""


def resume_point(value: str | None, what: str) -> int | None:
    """The ``ts`` (ms) after which a resuming client wants seconds; None for a fresh client."""
    if value is None or value == "":
        return None
    try:
        ts = int(value)
    except ValueError:
        raise BadResumePoint(
            f"{what} must be the ts (integer ms) of the last second received; got {value!r}"
        ) from None
    if not 0 <= ts < 2**53:
        raise BadResumePoint(f"{what} must be between 0 and 2^53; got {value!r}")
    return ts

"""Which responses are failures, and why."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

#: Key in the ASGI scope ``state`` (``request.state.failstream_reason``) a host
#: sets to name the reason itself, e.g. ``expired_token``.
REASON_STATE_KEY = "failstream_reason"

_BY_STATUS = {
    401: "invalid_token",
    403: "forbidden",
    404: "not_found",
    422: "validation_error",
    400: "validation_error",
    429: "rate_limited",
}


def is_failure(status: int, *, all_4xx: bool) -> bool:
    """Default: 401, 403, 429 and every 5xx; optionally every 4xx."""
    if status >= 500:
        return True
    if all_4xx:
        return 400 <= status < 500
    return status in (401, 403, 429)


def set_failure_reason(scope_or_state: MutableMapping[str, Any] | Any, reason: str) -> None:
    """Let the host say why a request failed (``missing_token``, ``expired_token`` ...).

    Accepts an ASGI scope, a WSGI environ, or a Starlette ``request.state``.
    """
    if isinstance(scope_or_state, MutableMapping):
        if "wsgi.version" in scope_or_state:
            scope_or_state[REASON_STATE_KEY] = reason
            return
        scope_or_state.setdefault("state", {})[REASON_STATE_KEY] = reason
    else:
        setattr(scope_or_state, REASON_STATE_KEY, reason)


def classify(status: int, has_auth_header: bool, host_reason: str | None) -> str:
    if host_reason:
        return host_reason
    if status >= 500:
        return "server_error"
    if status == 401 and not has_auth_header:
        return "missing_token"
    return _BY_STATUS.get(status, "other")

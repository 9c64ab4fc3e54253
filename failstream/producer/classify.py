"""Which responses are failures, and why."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from failstream.producer.reasons import FAILURE_REASONS

#: Key in the ASGI scope ``state`` (``request.state.failstream_reason``) or the
#: WSGI environ a host sets to name the reason itself, e.g. ``expired_token``.
REASON_STATE_KEY = "failstream_reason"

_BY_STATUS = {
    401: "invalid_token",
    403: "forbidden",
    404: "not_found",
    422: "validation_error",
    400: "validation_error",
    429: "rate_limited",
}


_KNOWN_REASONS = frozenset(FAILURE_REASONS)


def is_failure(status: int, *, all_4xx: bool) -> bool:
    """Default: 401, 403, 429 and every 5xx; optionally every 4xx."""
    if status >= 500:
        return True
    if all_4xx:
        return 400 <= status < 500
    return status in (401, 403, 429)


def set_failure_reason(scope_or_state: MutableMapping[str, Any] | Any, reason: str) -> None:
    """Let the host say why a request failed (``missing_token``, ``expired_token`` ...).

    Accepts an ASGI scope, a WSGI environ (``flask.request.environ``,
    ``django_request.META``), or a Starlette ``request.state``.
    """
    if isinstance(scope_or_state, MutableMapping):
        if "wsgi.version" in scope_or_state or "REQUEST_METHOD" in scope_or_state:
            scope_or_state[REASON_STATE_KEY] = reason
            return
        scope_or_state.setdefault("state", {})[REASON_STATE_KEY] = reason
    else:
        setattr(scope_or_state, REASON_STATE_KEY, reason)


def classify(
    status: int, has_auth_header: bool, host_reason: str | None, www_authenticate: str | None = None
) -> str:
    """The host's own reason wins; then what the response and request say.

    A 401 without credentials is a missing token; with credentials it is an
    invalid one, unless the RFC 6750 challenge the host sent back says the
    token expired (``WWW-Authenticate: Bearer error="invalid_token",
    error_description="... expired"``).
    """
    if host_reason:
        # a typo in the host must not make events the stream app rejects
        return host_reason if host_reason in _KNOWN_REASONS else "other"
    if status >= 500:
        return "server_error"
    if status == 401:
        if not has_auth_header:
            return "missing_token"
        if www_authenticate and "expired" in www_authenticate.lower():
            return "expired_token"
    return _BY_STATUS.get(status, "other")

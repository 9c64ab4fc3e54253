"""What a failed ASGI request tells its event: forwarded headers, token presence, agent, id, reason.

Shared by the ASGI middleware, which reads it in the host when it sends
events itself, and the relay process, which reads it from the facts the
middleware handed over as they were.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from producer.classify import REASON_STATE_KEY

#: (X-Forwarded-For, Forwarded, has Authorization, User-Agent, X-Request-Id, challenge)
RequestFacts = tuple[str | None, str | None, bool, str, str, str | None]

# only presence of authorization is used; its value is never read into the event
_WANTED = frozenset((b"x-forwarded-for", b"forwarded", b"authorization", b"user-agent", b"x-request-id"))


def host_reason_of(state: Any) -> str | None:
    """The reason the host named in ``scope["state"]``, if any."""
    # ASGI says state is a dict: the isinstance check (an ABC, slow) is only the fallback
    if state.__class__ is dict or isinstance(state, MutableMapping):
        return state.get(REASON_STATE_KEY)  # type: ignore[no-any-return]
    return None


def request_facts(headers: Any, status: int, host_reason: str | None, response_headers: Any) -> RequestFacts:
    """The request headers an event uses, and the challenge of the response where it matters.

    The token itself is never read: only whether one was sent. The
    ``WWW-Authenticate`` challenge is looked up only where it can change the
    reason, a 401 to a request that carried a token.
    """
    wanted: dict[bytes, str] = {}
    for key, value in headers or ():
        if key in _WANTED and key not in wanted:
            wanted[key] = "" if key == b"authorization" else value.decode("latin-1")
    has_auth = b"authorization" in wanted
    challenge = None
    if status == 401 and has_auth and not host_reason and response_headers:
        found = _find(response_headers, b"www-authenticate")
        challenge = found.decode("latin-1") if found is not None else None
    return (
        wanted.get(b"x-forwarded-for"),
        wanted.get(b"forwarded"),
        has_auth,
        wanted.get(b"user-agent", ""),
        wanted.get(b"x-request-id", ""),
        challenge,
    )


def _find(headers: Any, name: bytes) -> bytes | None:
    """First value of a header; ASGI names are lower-case already."""
    for key, value in headers:
        if key == name:
            return value  # type: ignore[no-any-return]
    return None

"""What a failed ASGI request tells its event: the forwarding header, token presence, agent, id, reason.

Shared by the ASGI middleware, which reads it in the host when it sends
events itself, and the relay process, which reads it from the facts the
middleware handed over as they were.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from failstream.producer.classify import REASON_STATE_KEY
from failstream.producer.client_ip import DEFAULT_FORWARDING_HEADER, FORWARDING_HEADERS

#: (address list, Forwarded, has Authorization, User-Agent, X-Request-Id, challenge, traceparent):
#: the first two are client_ip's slots, and only the one of the chosen forwarding header is filled
RequestFacts = tuple[str | None, str | None, bool, str, str, str | None, str | None]

# only presence of authorization is used; its value is never read into the event
_OTHERS = (b"authorization", b"user-agent", b"x-request-id", b"traceparent")
#: per forwarding header: (its ASGI name, the names this module reads, whether it is Forwarded)
_WANTED = {
    header: (header.encode(), frozenset((header.encode(), *_OTHERS)), header == "forwarded")
    for header in FORWARDING_HEADERS
}


def forwarding_header_of(settings: Any, recorder: Any) -> str:
    """The forwarding header a middleware reads: its settings', else its recorder's, else the default."""
    if settings is not None:
        return str(settings.forwarded_header)
    return str(getattr(recorder, "forwarded_header", DEFAULT_FORWARDING_HEADER))


def host_reason_of(state: Any) -> str | None:
    """The reason the host named in ``scope["state"]``, if any."""
    # ASGI says state is a dict: the isinstance check (an ABC, slow) is only the fallback
    if state.__class__ is dict or isinstance(state, MutableMapping):
        return state.get(REASON_STATE_KEY)  # type: ignore[no-any-return]
    return None


def request_facts(
    headers: Any,
    status: int,
    host_reason: str | None,
    response_headers: Any,
    forwarding_header: str = DEFAULT_FORWARDING_HEADER,
) -> RequestFacts:
    """The request headers an event uses, and the challenge of the response where it matters.

    Of the forwarding headers only ``forwarding_header`` is read, all its
    lines joined in order (RFC 9110 §5.3: a proxy may add its own line after
    the client's). The token itself is never read: only whether one was sent.
    The ``WWW-Authenticate`` challenge is looked up only where it can change
    the reason, a 401 to a request that carried a token. Repeated
    ``traceparent`` lines are joined as a WSGI server joins them, which makes
    the value invalid, as W3C Trace Context says repeated ones are.
    """
    forwarding, names, is_forwarded = _WANTED.get(forwarding_header) or _WANTED[DEFAULT_FORWARDING_HEADER]
    wanted: dict[bytes, str] = {}
    chain: str | None = None
    for key, value in headers or ():
        if key in names:
            if key == forwarding:
                line = value.decode("latin-1")
                chain = line if chain is None else f"{chain}, {line}"
            elif key not in wanted:
                wanted[key] = "" if key == b"authorization" else value.decode("latin-1")
            elif key == b"traceparent":
                wanted[key] = f"{wanted[key]}, {value.decode('latin-1')}"
    has_auth = b"authorization" in wanted
    challenge = None
    if status == 401 and has_auth and not host_reason and response_headers:
        found = _find(response_headers, b"www-authenticate")
        challenge = found.decode("latin-1") if found is not None else None
    return (
        None if is_forwarded else chain,  # client_ip's slot for the header's syntax
        chain if is_forwarded else None,
        has_auth,
        wanted.get(b"user-agent", ""),
        wanted.get(b"x-request-id", ""),
        challenge,
        wanted.get(b"traceparent"),
    )


def _find(headers: Any, name: bytes) -> bytes | None:
    """First value of a header; ASGI names are lower-case already."""
    for key, value in headers:
        if key == name:
            return value  # type: ignore[no-any-return]
    return None

"""Where uvicorn's proxy headers and werkzeug's ProxyFix agree, so do we.

Each case is run through both of them as well, so the table holds only what
they really share: a peer that is a trusted proxy and a chain of N trusted
proxies (ProxyFix's ``x_for=N``; it never looks at the peer, so an untrusted
peer is no shared case). Where they differ we keep to our own rule (the answer is always the peer or
an address from the header): a port on an IPv4 hop (uvicorn strips it, we
too), fewer hops than proxies, an empty element (werkzeug skips it, uvicorn
stops at it and keeps the peer, as we do), a hop that is no address (both
hand it on as the "client"; we keep the peer).
"""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware
from werkzeug.middleware.proxy_fix import ProxyFix

from failstream.producer.client_ip import client_ip

ONE = ["127.0.0.1"]
TWO = ["10.0.0.1", "10.0.0.2"]
NET = ["10.0.0.0/8"]

SHARED = [
    # (trusted, peer, X-Forwarded-For lines, proxies in front (ProxyFix x_for), client)
    (ONE, "127.0.0.1", ["203.0.113.9"], 1, "203.0.113.9"),
    (ONE, "127.0.0.1", ["198.51.100.77, 203.0.113.9"], 1, "203.0.113.9"),
    (ONE, "127.0.0.1", ["198.51.100.77", "203.0.113.9"], 1, "203.0.113.9"),
    (ONE, "127.0.0.1", ["  203.0.113.9  "], 1, "203.0.113.9"),
    (ONE, "127.0.0.1", ["2001:db8::7"], 1, "2001:db8::7"),
    (ONE, "127.0.0.1", [""], 1, "127.0.0.1"),
    (TWO, "10.0.0.1", ["198.51.100.77, 203.0.113.9, 10.0.0.2"], 2, "203.0.113.9"),
    (TWO, "10.0.0.1", ["198.51.100.77, 203.0.113.9", "10.0.0.2"], 2, "203.0.113.9"),
    (NET, "10.0.0.1", ["198.51.100.77, 203.0.113.9, 10.0.0.2"], 2, "203.0.113.9"),
    (NET, "10.0.0.1", ["10.0.0.3, 10.0.0.2"], 2, "10.0.0.3"),
]


async def _uvicorn(trusted: list[str], peer: str, lines: list[str]) -> str:
    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen["client"] = scope["client"]

    headers = [(b"x-forwarded-for", line.encode()) for line in lines]
    scope = {"type": "http", "headers": headers, "client": (peer, 5000), "scheme": "http"}
    await ProxyHeadersMiddleware(app, trusted_hosts=trusted)(scope, None, None)  # type: ignore[arg-type]
    return str(seen["client"][0])


def _werkzeug(peer: str, lines: list[str], x_for: int) -> str:
    seen: dict[str, Any] = {}

    def app(environ: dict, start_response: Any) -> list[bytes]:
        seen["addr"] = environ["REMOTE_ADDR"]
        return []

    # a WSGI server joins repeated lines with commas under one key
    environ = {"REMOTE_ADDR": peer, "HTTP_X_FORWARDED_FOR": ",".join(lines), "wsgi.url_scheme": "http"}
    ProxyFix(app, x_for=x_for)(environ, lambda *a: None)  # type: ignore[arg-type]
    return str(seen["addr"])


@pytest.mark.parametrize(("trusted", "peer", "lines", "x_for", "client"), SHARED)
async def test_cases_uvicorn_and_proxyfix_share_get_their_answer(
    trusted: list[str], peer: str, lines: list[str], x_for: int, client: str
) -> None:
    assert await _uvicorn(trusted, peer, lines) == client
    assert _werkzeug(peer, lines, x_for) == client
    networks = tuple(ipaddress.ip_network(item) for item in trusted)
    assert client_ip(peer, ", ".join(lines), None, networks) == client

"""The real client IP: one forwarding header counts, and only when a trusted proxy sent it.

The settings name the one header the trusted proxies set
(``FAILSTREAM_FORWARDED_HEADER``: ``x-forwarded-for``, ``forwarded`` or
``x-real-ip``). The middlewares read only that header, all its lines joined in
order (RFC 9110 §5.3), and hand it to :func:`client_ip` in the slot of its
syntax: a comma-separated address list (X-Forwarded-For, X-Real-IP) or an
RFC 7239 ``Forwarded`` value. Any other forwarding header never gets here:
nginx, HAProxy and cloud balancers append to their own header and pass a
client's ``Forwarded`` through untouched, so reading it would let a client
choose the address its failures are recorded, counted and alerted under.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from functools import lru_cache
from typing import Final

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

#: the headers a trusted proxy may be said to set; lower case, as ASGI names are
FORWARDING_HEADERS: Final = ("x-forwarded-for", "forwarded", "x-real-ip")
DEFAULT_FORWARDING_HEADER: Final = "x-forwarded-for"

# longer than any address with brackets, zone id and port: not an address, and not worth caching
_MAX_ADDRESS_LEN = 100


def forwarding_slots(header: str, value: str | None) -> tuple[str | None, str | None]:
    """``(address list, Forwarded)`` arguments of :func:`client_ip` for the chosen header's value."""
    return (None, value) if header == "forwarded" else (value, None)


def wsgi_key(header: str) -> str:
    """The environ key under which a WSGI server puts the header (repeated lines joined by commas)."""
    return "HTTP_" + header.upper().replace("-", "_")


@lru_cache(maxsize=4096)
def normalise(value: str) -> Address | None:
    """The address a header element or a socket peer names, or None if it names none.

    Brackets, a port and an IPv6 zone id are stripped; an IPv4-mapped IPv6
    address (``::ffff:10.0.0.5``, a dual-stack socket's view of an IPv4 peer)
    becomes its IPv4 address, so it matches ``10.0.0.0/8`` and is recorded as
    one key whichever stack it came by. Cached: the same few proxies and busy
    clients come back on every request.
    """
    host = value.strip()
    if host.startswith("["):  # [2001:db8::1]:4711
        host, sep, port = host[1:].partition("]")
        if not sep or (port and not (port[0] == ":" and port[1:].isdigit())):
            return None
    elif host.count(":") == 1:  # 192.0.2.1:4711
        host, _, port = host.partition(":")
        if not port.isdigit():
            return None
    if ":" in host:
        host = host.partition("%")[0]  # fe80::1%eth0: a zone names the host's interface, not the client
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    if ip.version == 6:
        mapped = ip.ipv4_mapped  # type: ignore[union-attr]
        if mapped is not None:
            return mapped
    return ip


def _address_of(element: str) -> Address | None:
    if len(element) > _MAX_ADDRESS_LEN:
        return None
    return normalise(element)


def _forwarded_for(element: str) -> Address | None:
    """The ``for=`` address of one RFC 7239 element; None when it has none, several, or not an address."""
    found: str | None = None
    for pair in element.split(";"):
        name, sep, value = pair.partition("=")
        if sep and name.strip().lower() == "for":
            if found is not None:
                return None  # a parameter occurs at most once per element
            found = value.strip()
    if found is None:
        return None
    if len(found) >= 2 and found[0] == '"' and found[-1] == '"':
        found = found[1:-1]
    return _address_of(found)


def _trusted(ip: Address, proxies: Sequence[Network]) -> bool:
    for net in proxies:
        if ip in net:
            return True
    return False


def client_ip(
    peer: str | None,
    x_forwarded_for: str | None,
    forwarded: str | None,
    trusted_proxies: Sequence[Network],
) -> str:
    """The address a failed request is recorded under.

    ``x_forwarded_for`` is the chosen header's value when it is an address
    list (X-Forwarded-For or X-Real-IP), ``forwarded`` when it is RFC 7239
    ``Forwarded``; the middlewares pass one of them, never both (given both,
    neither is believed).

    Only the socket peer is known to be true. If it is a trusted proxy, the
    header is walked right to left, each proxy having appended the address it
    saw, while each hop is a trusted proxy: the first untrusted hop is the
    client (if all are trusted, the leftmost). A hop that names no address
    (empty, ``unknown``, garbage) ends the walk with no client known: the
    answer is the peer (uvicorn keeps the peer at an empty one too). So the
    answer is always the peer or an address from the header, and never one
    left of an untrusted hop: whatever a client writes is left of its own
    address, which is untrusted.
    """
    if not peer:
        return "unknown"
    if not trusted_proxies:
        # the server gave the peer: an IPv4 one is already normal, only a colon needs a look
        if ":" not in peer:
            return peer
        ip = normalise(peer)
        return peer if ip is None else str(ip)
    peer_ip = normalise(peer)
    if peer_ip is None:
        return peer  # not an IP socket (a unix socket, a test client): nothing to trust
    chain = forwarded if x_forwarded_for is None else x_forwarded_for
    if chain is None or (forwarded is not None and x_forwarded_for is not None):
        return str(peer_ip)
    if not _trusted(peer_ip, trusted_proxies):
        return str(peer_ip)
    address_of = _address_of if forwarded is None else _forwarded_for
    current = peer_ip
    for element in reversed(chain.split(",")):
        hop = address_of(element)
        if hop is None:
            return str(peer_ip)
        current = hop
        if not _trusted(hop, trusted_proxies):
            break
    return str(current)

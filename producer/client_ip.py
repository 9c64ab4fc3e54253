"""The real client IP: forwarded headers count only when a trusted proxy sent them."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _parse_ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    value = value.strip().strip('"')
    if value.startswith("["):  # Forwarded: for="[2001:db8::1]:4711"
        value = value[1:].split("]", 1)[0]
    elif value.count(":") == 1:  # 1.2.3.4:5678
        value = value.split(":", 1)[0]
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def _trusted(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, proxies: Sequence[Network]) -> bool:
    return any(ip in net for net in proxies)


def forwarded_chain(x_forwarded_for: str | None, forwarded: str | None) -> list[str]:
    """Addresses the proxies appended, client first (RFC 7239 ``for=`` or XFF)."""
    if forwarded:
        chain = []
        for element in forwarded.split(","):
            for pair in element.split(";"):
                name, _, value = pair.strip().partition("=")
                if name.lower() == "for":
                    chain.append(value)
        return chain
    if x_forwarded_for:
        return [part for part in x_forwarded_for.split(",") if part.strip()]
    return []


def client_ip(
    peer: str | None,
    x_forwarded_for: str | None,
    forwarded: str | None,
    trusted_proxies: Sequence[Network],
) -> str:
    """Walk the chain right to left while each hop is a trusted proxy.

    A header from an untrusted peer is ignored entirely: anyone can write
    X-Forwarded-For, so only the socket peer is known to be true. The first
    untrusted hop from the right is the client; garbage in the chain stops the
    walk at the last address we could trust.
    """
    if not trusted_proxies or not (x_forwarded_for or forwarded):
        # nothing to walk: the socket peer is the answer (the server gave it, already an address)
        return peer or "unknown"
    peer_ip = _parse_ip(peer) if peer else None
    if peer_ip is None:
        return peer or "unknown"
    if not _trusted(peer_ip, trusted_proxies):
        return str(peer_ip)
    current = peer_ip
    for hop in reversed(forwarded_chain(x_forwarded_for, forwarded)):
        hop_ip = _parse_ip(hop)
        if hop_ip is None:
            break
        current = hop_ip
        if not _trusted(hop_ip, trusted_proxies):
            break
    return str(current)

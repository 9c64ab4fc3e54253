"""The active decisions as text a proxy includes: plain, nginx, HAProxy or ipset.

Pure functions of the decisions: the same set always gives the same bytes,
so the API's ``ETag`` (a hash of them) changes exactly when a proxy must
reload. Subjects are canonical IPs and CIDR prefixes (``model.normalise_subject``),
so nothing else can reach a proxy's configuration through them.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Callable, Sequence
from typing import Literal

from failstream.decisions.model import Decision

Format = Literal["plain", "nginx", "haproxy", "ipset"]
#: ipset sets the ``ipset`` format fills (``ipset restore``); IPv4 and IPv6 need a set each.
IPSET_V4 = "failstream"
IPSET_V6 = "failstream6"


def _order(subject: str) -> tuple[int, int, int]:
    network = ipaddress.ip_network(subject, strict=False)
    return network.version, int(network.network_address), network.prefixlen


def _subjects(decisions: Sequence[Decision]) -> list[str]:
    """Address order, IPv4 first: stable bytes, and a list people can read."""
    return sorted({d.subject for d in decisions}, key=_order)


def plain(decisions: Sequence[Decision]) -> str:
    """One IP or prefix per line."""
    return "".join(f"{s}\n" for s in _subjects(decisions))


def nginx(decisions: Sequence[Decision]) -> str:
    """``deny <subject>;`` lines for an ``include`` in an ``http``, ``server`` or ``location`` block."""
    head = "# Failstream decisions: include in a server or location block (deny answers 403)\n"
    return head + "".join(f"deny {s};\n" for s in _subjects(decisions))


def haproxy(decisions: Sequence[Decision]) -> str:
    """An ACL pattern file: ``acl failstream src -f <file>`` then ``http-request deny if failstream``."""
    head = "# Failstream decisions: one source address or prefix per line\n"
    return head + plain(decisions)


def ipset(decisions: Sequence[Decision]) -> str:
    """Input for ``ipset restore``: both sets created if missing, emptied, and filled."""
    lines = [
        f"create {IPSET_V4} hash:net family inet -exist",
        f"create {IPSET_V6} hash:net family inet6 -exist",
        f"flush {IPSET_V4}",
        f"flush {IPSET_V6}",
    ]
    for s in _subjects(decisions):
        name = IPSET_V6 if ":" in s else IPSET_V4
        lines.append(f"add {name} {s} -exist")
    return "\n".join(lines) + "\n"


RENDERERS: dict[str, Callable[[Sequence[Decision]], str]] = {
    "plain": plain,
    "nginx": nginx,
    "haproxy": haproxy,
    "ipset": ipset,
}


def etag(body: str) -> str:
    """A strong ETag of the exact bytes."""
    return '"' + hashlib.sha256(body.encode()).hexdigest()[:32] + '"'


def matches_etag(if_none_match: str | None, tag: str) -> bool:
    """Does ``If-None-Match`` name ``tag`` (or ``*``)? Weak validators compare by their opaque part."""
    if not if_none_match:
        return False
    candidates = [c.strip() for c in if_none_match.split(",")]
    return any(c == "*" or c.removeprefix("W/") == tag for c in candidates)

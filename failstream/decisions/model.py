"""What a decision is, which subjects can be one, and the pure rules that make one from an alert."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict

SCHEMA_VERSION = 1

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Kind = Literal["ip", "prefix"]
#: Alert states that make (or extend) a decision; a resolution does not lift one: it lasts its time.
DECIDING_STATES = frozenset({"firing", "renotify"})


class Decision(BaseModel):
    """A subject refused until ``until`` (ms), and the alert that decided it.

    The value of a record on the ``decisions`` topic (key: ``subject``; a
    tombstone when the decision ends) and an item of the bouncer feed.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    v: int = SCHEMA_VERSION
    subject: str
    kind: Kind
    rule: str
    alert_key: str
    until: int
    #: when the alert was made (the stream's clock): the decision's own time
    decided_at: int


def normalise_subject(subject: str) -> tuple[str, Kind] | None:
    """An IP or a prefix in one canonical spelling (IPv4-mapped IPv6 as IPv4), or None.

    A route alert's subject ``"<ip> <method> <route>"`` decides its IP; a
    domain or the global spike's ``all`` is no subject a proxy can refuse.
    """
    text = subject.partition(" ")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        pass
    else:
        mapped = getattr(address, "ipv4_mapped", None)
        return str(mapped or address), "ip"
    if "/" not in text:
        return None
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None
    if network.num_addresses == 1:
        return str(network.network_address), "ip"
    return str(network), "prefix"


def allowlisted(subject: str, allowlist: Iterable[Network]) -> bool:
    """Would refusing ``subject`` refuse an allowlisted address? Then it is never decided."""
    target = ipaddress.ip_network(subject, strict=False)
    return any(target.version == net.version and target.overlaps(net) for net in allowlist)


def duration_s(rule: str, window_s: int, durations: Mapping[str, int]) -> int:
    """A rule's decision duration: its setting, else the rule's window."""
    return int(durations.get(rule, window_s))

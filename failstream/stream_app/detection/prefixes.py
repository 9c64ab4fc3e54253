"""Which network prefix an address is counted under by the ``prefix-failures`` rule.

Every IPv6 failure passes through here on the worker's hot path. Parsing
with ``ipaddress`` cost several µs an address (tens under load); here the
C parser (``inet_pton``) reads the address and the canonical text of each
prefix, written by ``ipaddress``, is cached: an attacker rotating addresses
inside one prefix hits the cache with every new address.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from functools import lru_cache

from failstream.settings import StreamSettings

_MAPPED = b"\0" * 10 + b"\xff\xff"  # ::ffff:0:0/96, IPv4-mapped IPv6


@dataclass(frozen=True)
class AddressPrefixes:
    """The prefix lengths per family; 0 leaves that family to the per-IP rules."""

    ipv6_length: int = 64
    ipv4_length: int = 0

    @classmethod
    def from_settings(cls, settings: StreamSettings) -> AddressPrefixes:
        return cls(settings.rule_prefix_ipv6_length, settings.rule_prefix_ipv4_length)

    @property
    def enabled(self) -> bool:
        return bool(self.ipv6_length or self.ipv4_length)

    def of(self, ip: str) -> str | None:
        """The canonical prefix (``2001:db8:1:2::/64``) of ``ip``, or None if it is not aggregated.

        An IPv4-mapped IPv6 address counts as its IPv4 address, as the producer
        records it; a zone id is dropped; text that is no address is None.
        """
        if ":" not in ip:
            if not self.ipv4_length:
                return None  # IPv4 text, not aggregated: no parse for most traffic
            try:
                ipv4 = socket.inet_pton(socket.AF_INET, ip)
            except OSError:
                return None
            return _prefix(4, int.from_bytes(ipv4), self.ipv4_length)
        packed = _packed_ipv6(ip)
        if packed is None:
            return None
        if packed[:12] == _MAPPED:
            return _prefix(4, int.from_bytes(packed[12:]), self.ipv4_length) if self.ipv4_length else None
        return _prefix(6, int.from_bytes(packed), self.ipv6_length) if self.ipv6_length else None


def _packed_ipv6(ip: str) -> bytes | None:
    try:
        return socket.inet_pton(socket.AF_INET6, ip)
    except OSError:
        pass
    try:  # a zone id (fe80::1%eth0), which inet_pton refuses, or no address at all
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    return address.packed if isinstance(address, ipaddress.IPv6Address) else None


def _prefix(version: int, value: int, length: int) -> str:
    host_bits = (32 if version == 4 else 128) - length
    return _text(version, value >> host_bits << host_bits, length)


@lru_cache(maxsize=4096)  # a few hundred bytes each; a rotating attacker needs one
def _text(version: int, network: int, length: int) -> str:
    address = ipaddress.IPv4Address(network) if version == 4 else ipaddress.IPv6Address(network)
    return f"{address}/{length}"

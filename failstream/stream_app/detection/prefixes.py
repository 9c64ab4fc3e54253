"""Which network prefix an address is counted under by the ``prefix-failures`` rule."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from failstream.settings import Settings


@dataclass(frozen=True)
class AddressPrefixes:
    """The prefix lengths per family; 0 leaves that family to the per-IP rules."""

    ipv6_length: int = 64
    ipv4_length: int = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> AddressPrefixes:
        return cls(settings.rule_prefix_ipv6_length, settings.rule_prefix_ipv4_length)

    @property
    def enabled(self) -> bool:
        return bool(self.ipv6_length or self.ipv4_length)

    def of(self, ip: str) -> str | None:
        """The canonical prefix (``2001:db8:1:2::/64``) of ``ip``, or None if it is not aggregated.

        An IPv4-mapped IPv6 address counts as its IPv4 address, as the producer
        records it; a zone id is dropped; text that is no address is None.
        """
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return None
        if isinstance(address, ipaddress.IPv6Address):
            mapped = address.ipv4_mapped
            if mapped is None:
                return _masked(int(address), 128, self.ipv6_length, ipaddress.IPv6Address)
            address = mapped
        return _masked(int(address), 32, self.ipv4_length, ipaddress.IPv4Address)


def _masked(
    value: int, bits: int, length: int, family: type[ipaddress.IPv4Address] | type[ipaddress.IPv6Address]
) -> str | None:
    if not length:
        return None
    host_bits = bits - length
    return f"{family(value >> host_bits << host_bits)}/{length}"

from __future__ import annotations

import ipaddress
import random

import pytest

from failstream.settings import Settings
from failstream.stream_app.detection.prefixes import AddressPrefixes

DEFAULT = AddressPrefixes.from_settings(Settings(_env_file=None))  # type: ignore[call-arg]


def test_rotating_addresses_of_one_64_share_its_canonical_prefix() -> None:
    addresses = ["2001:db8:1:2::1", "2001:0DB8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2:a:b:c:d"]
    assert {DEFAULT.of(a) for a in addresses} == {"2001:db8:1:2::/64"}
    assert DEFAULT.of("2001:db8:1:3::1") == "2001:db8:1:3::/64"


def test_ipv4_is_left_to_the_per_ip_rules_unless_aggregation_is_on() -> None:
    assert DEFAULT.of("203.0.113.7") is None
    on = AddressPrefixes.from_settings(Settings(_env_file=None, rule_prefix_ipv4_length=24))  # type: ignore[call-arg]
    assert on.of("203.0.113.7") == on.of("203.0.113.250") == "203.0.113.0/24"
    assert on.of("2001:db8:1:2::1") == "2001:db8:1:2::/64"


def test_an_ipv4_mapped_address_counts_as_its_ipv4_address() -> None:
    assert DEFAULT.of("::ffff:203.0.113.7") is None
    assert AddressPrefixes(64, 24).of("::ffff:203.0.113.7") == "203.0.113.0/24"


def test_zone_ids_are_dropped_and_non_addresses_are_not_aggregated() -> None:
    assert DEFAULT.of("fe80::1%eth0") == "fe80::/64"
    for text in ("", "unknown", "2001:db8::/64", "1.2.3", "::g"):
        assert DEFAULT.of(text) is None


def test_a_length_of_zero_turns_a_family_off() -> None:
    off = AddressPrefixes(0, 0)
    assert not off.enabled
    assert off.of("2001:db8::1") is None and off.of("10.0.0.1") is None


@pytest.mark.parametrize(("bits", "lengths"), [(128, (1, 48, 56, 64, 127, 128)), (32, (1, 8, 24, 31, 32))])
def test_matches_the_network_ipaddress_computes_for_random_addresses(
    bits: int, lengths: tuple[int, ...]
) -> None:
    rng = random.Random(bits)
    for _ in range(5_000):
        address: ipaddress.IPv4Address | ipaddress.IPv6Address
        if bits == 32:
            address = ipaddress.IPv4Address(rng.getrandbits(32))
        else:
            address = ipaddress.IPv6Address(rng.getrandbits(128))
            if address.ipv4_mapped is not None:
                continue
        length = rng.choice(lengths)
        prefixes = AddressPrefixes(length, 0) if bits == 128 else AddressPrefixes(64, length)
        assert prefixes.of(str(address)) == str(ipaddress.ip_network((address, length), strict=False))


def reference(ip: str, prefixes: AddressPrefixes) -> str | None:
    """The prefix as ``ipaddress`` alone computes it (slow, obviously right)."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    length = prefixes.ipv6_length if address.version == 6 else prefixes.ipv4_length
    return str(ipaddress.ip_network((address, length), strict=False)) if length else None


@pytest.mark.parametrize(
    "text",
    [
        "::",
        "::1",
        "::1.2.3.4",  # IPv4-compatible (deprecated): an IPv6 address, written as ::102:304
        "::ffff:1.2.3.4",
        "::FFFF:102:304",
        "64:ff9b::192.0.2.1",
        "2001:0DB8:0000:0000:0001::",
        "fe80:0:0:0:0:0:0:1",
        "1:0:0:1:0:0:0:1",
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        "192.0.2.255",
        "0.0.0.0",
        "1.2.3.04",
        " 2001:db8::1",
        "2001:db8::1::",
        "12345::",
    ],
)
@pytest.mark.parametrize(
    "prefixes", [AddressPrefixes(64, 24), AddressPrefixes(120, 0), AddressPrefixes(1, 32)]
)
def test_written_forms_give_what_ipaddress_gives(text: str, prefixes: AddressPrefixes) -> None:
    assert prefixes.of(text) == reference(text, prefixes)

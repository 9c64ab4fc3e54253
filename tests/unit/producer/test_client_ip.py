from __future__ import annotations

import ipaddress

import pytest

from failstream.producer.client_ip import client_ip, normalise

PROXIES = (ipaddress.ip_network("10.0.0.0/8"),)
NO_PROXIES: tuple[ipaddress.IPv4Network, ...] = ()


def test_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored() -> None:
    assert client_ip("203.0.113.9", "1.2.3.4", None, PROXIES) == "203.0.113.9"


def test_forwarded_for_from_a_trusted_proxy_gives_the_client() -> None:
    assert client_ip("10.0.0.5", "198.51.100.7", None, PROXIES) == "198.51.100.7"


def test_chain_is_walked_right_to_left_past_trusted_proxies_only() -> None:
    # the client forged "1.1.1.1"; the first untrusted hop from the right is the real client
    assert client_ip("10.0.0.5", "1.1.1.1, 198.51.100.7, 10.0.0.9", None, PROXIES) == "198.51.100.7"


def test_rfc7239_forwarded_header_is_understood() -> None:
    assert client_ip("10.0.0.5", None, 'for="[2001:db8::1]:4711";proto=https', PROXIES) == "2001:db8::1"


def test_a_forwarded_chain_is_walked_right_to_left_too() -> None:
    value = 'for=198.51.100.77, for=203.0.113.9;proto=http;by=10.0.0.5, For="10.0.0.3:80"'
    assert client_ip("10.0.0.5", None, value, PROXIES) == "203.0.113.9"


def test_no_trusted_proxies_means_headers_never_count() -> None:
    assert client_ip("10.0.0.5", "198.51.100.7", None, ()) == "10.0.0.5"


def test_a_dual_stack_peer_matches_its_ipv4_network_and_is_recorded_as_ipv4() -> None:
    assert client_ip("::ffff:10.0.0.5", "198.51.100.7", None, PROXIES) == "198.51.100.7"
    assert client_ip("::ffff:203.0.113.9", "198.51.100.7", None, PROXIES) == "203.0.113.9"
    assert client_ip("::ffff:203.0.113.9", None, None, NO_PROXIES) == "203.0.113.9"


def test_hops_are_normalised_before_they_are_matched_and_recorded() -> None:
    # an IPv4-mapped proxy hop is trusted as 10/8, the client's mapped address recorded as IPv4
    assert client_ip("10.0.0.5", "::ffff:198.51.100.7, ::FFFF:10.0.0.9", None, PROXIES) == "198.51.100.7"


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("192.0.2.1", "192.0.2.1"),
        (" 192.0.2.1:4711 ", "192.0.2.1"),
        ("[2001:db8::1]:4711", "2001:db8::1"),
        ("[2001:DB8::1]", "2001:db8::1"),
        ("fe80::1%eth0", "fe80::1"),
        ("[fe80::1%25eth0]:443", "fe80::1"),
        ("::ffff:10.0.0.5", "10.0.0.5"),
        ("[::ffff:192.0.2.1]:80", "192.0.2.1"),
    ],
)
def test_brackets_ports_zone_ids_and_ipv4_mapping_are_stripped(text: str, address: str) -> None:
    ip = normalise(text)
    assert ip is not None and str(ip) == address


@pytest.mark.parametrize(
    "text",
    [
        "",
        "unknown",
        "_hidden",
        "192.0.2.1:",
        "192.0.2.1:x",
        "[2001:db8::1",
        "[::1]x",
        "1.2.3.4%eth0",
        "01.2.3.4",
    ],
)
def test_what_names_no_address_is_none(text: str) -> None:
    assert normalise(text) is None


@pytest.mark.parametrize("hop", ["", "unknown", "not-an-ip", "10.0.0.9:port"])
def test_a_hop_that_names_no_address_leaves_the_peer(hop: str) -> None:
    # nobody knows who sent it to the trusted proxy: the peer is the one address known true
    assert client_ip("10.0.0.5", f"198.51.100.7, {hop}", None, PROXIES) == "10.0.0.5"
    assert client_ip("10.0.0.5", None, f"for=198.51.100.7, for={hop}", PROXIES) == "10.0.0.5"


def test_a_forwarded_element_without_for_or_with_two_names_no_address() -> None:
    assert client_ip("10.0.0.5", None, "for=198.51.100.7, proto=https", PROXIES) == "10.0.0.5"
    assert client_ip("10.0.0.5", None, "for=198.51.100.7;for=10.0.0.3", PROXIES) == "10.0.0.5"


def test_a_chain_of_trusted_proxies_only_gives_its_leftmost_address() -> None:
    assert client_ip("10.0.0.5", "10.0.0.3, 10.0.0.9", None, PROXIES) == "10.0.0.3"


def test_given_both_kinds_of_header_neither_is_believed() -> None:
    assert client_ip("10.0.0.5", "198.51.100.7", "for=198.51.100.8", PROXIES) == "10.0.0.5"


def test_a_peer_that_is_no_ip_is_kept_and_a_missing_one_is_unknown() -> None:
    assert client_ip("testclient", "198.51.100.7", None, PROXIES) == "testclient"
    assert client_ip(None, "198.51.100.7", None, PROXIES) == "unknown"
    assert client_ip("", None, None, NO_PROXIES) == "unknown"


def test_an_overlong_hop_is_not_an_address() -> None:
    assert client_ip("10.0.0.5", "198.51.100.7, " + "1" * 10_000, None, PROXIES) == "10.0.0.5"

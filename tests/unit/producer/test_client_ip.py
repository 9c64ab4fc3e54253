from __future__ import annotations

import ipaddress

from producer.client_ip import client_ip

PROXIES = (ipaddress.ip_network("10.0.0.0/8"),)


def test_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored() -> None:
    assert client_ip("203.0.113.9", "1.2.3.4", None, PROXIES) == "203.0.113.9"


def test_forwarded_for_from_a_trusted_proxy_gives_the_client() -> None:
    assert client_ip("10.0.0.5", "198.51.100.7", None, PROXIES) == "198.51.100.7"


def test_chain_is_walked_right_to_left_past_trusted_proxies_only() -> None:
    # the client forged "1.1.1.1"; the first untrusted hop from the right is the real client
    assert client_ip("10.0.0.5", "1.1.1.1, 198.51.100.7, 10.0.0.9", None, PROXIES) == "198.51.100.7"


def test_rfc7239_forwarded_header_is_understood() -> None:
    assert client_ip("10.0.0.5", None, 'for="[2001:db8::1]:4711";proto=https', PROXIES) == "2001:db8::1"


def test_no_trusted_proxies_means_headers_never_count() -> None:
    assert client_ip("10.0.0.5", "198.51.100.7", None, ()) == "10.0.0.5"

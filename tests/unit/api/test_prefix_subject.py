from __future__ import annotations

import pytest

from failstream.api.params import ip_match, is_prefix, parse_subject


def test_a_prefix_subject_is_accepted_and_matches_its_canonical_spelling() -> None:
    assert parse_subject("2001:db8:1:2::/64") == "2001:db8:1:2::/64"
    assert parse_subject("198.51.100.0/24") == "198.51.100.0/24"
    assert ip_match("2001:DB8:1:2::/64") == {"$in": ["2001:DB8:1:2::/64", "2001:db8:1:2::/64"]}
    assert is_prefix("2001:db8:1:2::/64") and not is_prefix("2001:db8::1")


def test_addresses_are_still_parsed_as_addresses() -> None:
    assert parse_subject("203.0.113.7") == "203.0.113.7"
    with pytest.raises(ValueError, match=r"^ip must be an IPv4 or IPv6 address; got 'not-an-ip'"):
        parse_subject("not-an-ip")


@pytest.mark.parametrize(
    "bad", ["2001:db8:1:2::1/64", "2001:db8::/129", "10.0.0.0/33", "x/24", "/", "10.0.0.0/"]
)
def test_a_bad_prefix_is_named_with_an_example(bad: str) -> None:
    with pytest.raises(ValueError, match=r"^ip must be .* like 2001:db8:1:2::/64; got "):
        parse_subject(bad)

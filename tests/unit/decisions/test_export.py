"""The export formats and their ETag."""

from __future__ import annotations

from failstream.decisions.export import etag, haproxy, ipset, matches_etag, nginx, plain
from failstream.decisions.model import Decision


def d(subject: str, kind: str = "ip") -> Decision:
    return Decision(subject=subject, kind=kind, rule="ip-failures", alert_key="k", until=2, decided_at=1)  # type: ignore[arg-type]


DECISIONS = [d("2001:db8::1"), d("203.0.113.9"), d("10.0.0.0/24", "prefix"), d("9.9.9.9")]


def test_plain_lists_one_subject_a_line_in_address_order() -> None:
    assert plain(DECISIONS) == "9.9.9.9\n10.0.0.0/24\n203.0.113.9\n2001:db8::1\n"
    assert plain([]) == ""


def test_nginx_is_deny_lines_to_include() -> None:
    lines = nginx(DECISIONS).splitlines()
    assert lines[0].startswith("#")
    assert lines[1:] == ["deny 9.9.9.9;", "deny 10.0.0.0/24;", "deny 203.0.113.9;", "deny 2001:db8::1;"]


def test_haproxy_is_an_acl_pattern_file() -> None:
    assert haproxy(DECISIONS).splitlines()[1:] == ["9.9.9.9", "10.0.0.0/24", "203.0.113.9", "2001:db8::1"]


def test_ipset_fills_one_set_per_address_family() -> None:
    lines = ipset(DECISIONS).splitlines()
    assert "create failstream hash:net family inet -exist" in lines
    assert "flush failstream6" in lines
    assert "add failstream 203.0.113.9 -exist" in lines
    assert "add failstream6 2001:db8::1 -exist" in lines


def test_the_etag_follows_the_bytes_and_if_none_match_is_compared_like_http() -> None:
    tag = etag(nginx(DECISIONS))
    assert tag == etag(nginx(list(reversed(DECISIONS))))  # the same set: the same file
    assert tag != etag(nginx(DECISIONS[:3]))
    assert matches_etag(tag, tag) and matches_etag(f'"x", W/{tag}', tag) and matches_etag("*", tag)
    assert not matches_etag(None, tag) and not matches_etag('"other"', tag)

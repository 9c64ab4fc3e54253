from __future__ import annotations

import base64

import pytest

from failstream.api.live.access import BadResumePoint, key_from_subprotocols, offered_key, resume_point


def as_protocol(key: str) -> str:
    return "apikey." + base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def test_a_key_is_taken_from_the_header_then_the_subprotocol_then_the_query() -> None:
    protocols = ["failstream.live.v1", as_protocol("from-protocol")]
    assert offered_key({"x-api-key": "from-header"}, {"api_key": "q"}, protocols) == "from-header"
    assert offered_key({}, {"api_key": "q"}, protocols) == "from-protocol"
    assert offered_key({}, {"api_key": "q"}) == "q"
    assert offered_key({}, {}) is None


def test_a_subprotocol_key_of_any_length_and_characters_round_trips() -> None:
    for key in ("k", "ke", "key", "dev-read-key", "ключ/+=?"):
        assert key_from_subprotocols([as_protocol(key)]) == key


def test_a_garbled_subprotocol_key_is_no_key() -> None:
    assert key_from_subprotocols(["apikey.%%%"]) is None
    assert key_from_subprotocols(["apikey." + base64.urlsafe_b64encode(b"\xff\xfe").decode()]) is None


def test_resume_points_are_whole_ms_timestamps() -> None:
    assert resume_point(None, "since") is None
    assert resume_point("", "since") is None
    assert resume_point("1700000000000", "since") == 1_700_000_000_000
    with pytest.raises(BadResumePoint, match="since"):
        resume_point("yesterday", "since")
    with pytest.raises(BadResumePoint, match="Last-Event-ID"):
        resume_point("-5", "Last-Event-ID")

from __future__ import annotations

import base64

import orjson

from failstream.events import DeadLetter, FailedRequest, failed_request_json
from failstream.stream_app.decode import decode

GOOD = failed_request_json(
    event_id="e1",
    ts=1,
    service="s",
    ip="10.0.0.1",
    method="GET",
    route="/",
    status=401,
    reason="invalid_token",
    user_agent="",
    request_id="",
)


def run(value: bytes | None) -> FailedRequest | DeadLetter:
    return decode(FailedRequest, topic="t", partition=2, offset=7, key=b"k", value=value)


def test_a_valid_event_decodes() -> None:
    event = run(GOOD)
    assert isinstance(event, FailedRequest) and event.ip == "10.0.0.1"


def test_each_kind_of_bad_message_becomes_a_dead_letter_saying_why_and_keeping_the_bytes() -> None:
    cases = {
        b"{oops": "not JSON",
        b"[1]": "not a JSON object",
        orjson.dumps({**orjson.loads(GOOD), "reason": "nope"}): "schema: reason",
        orjson.dumps({**orjson.loads(GOOD), "v": 9}): "unknown schema version v=9",
        b"": "empty message",
    }
    for value, why in cases.items():
        letter = run(value)
        assert isinstance(letter, DeadLetter), value
        assert letter.error.startswith(why), (value, letter.error)
        assert (letter.source_topic, letter.partition, letter.offset) == ("t", 2, 7)
        assert base64.b64decode(letter.value_b64) == value
        assert letter.key_b64 == base64.b64encode(b"k").decode()

"""The W3C traceparent header gives the event its trace id, or none when it is malformed."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from failstream.events import FailedRequest, failed_request_json
from failstream.producer.trace_context import trace_id_of

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
VALID = f"00-{TRACE}-00f067aa0ba902b7-01"


@pytest.mark.parametrize(
    "value",
    [
        VALID,
        f" {VALID} ",
        f"00-{TRACE}-00f067aa0ba902b7-00",
        f"cc-{TRACE}-00f067aa0ba902b7-01-what-comes-later",
    ],
)
def test_a_valid_traceparent_gives_its_trace_id(value: str) -> None:
    assert trace_id_of(value) == TRACE


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "garbage",
        f"ff-{TRACE}-00f067aa0ba902b7-01",  # version ff is forbidden
        f"00-{TRACE}-00f067aa0ba902b7-01-extra",  # version 00 has four fields exactly
        f"00-{TRACE.upper()}-00f067aa0ba902b7-01",  # lower-case hex only
        f"00-{'0' * 32}-00f067aa0ba902b7-01",  # all-zero trace id
        f"00-{TRACE}-{'0' * 16}-01",  # all-zero parent id
        f"00-{TRACE[:-1]}-00f067aa0ba902b7-01",
        f"00-{TRACE}-00f067aa0ba902b7-1",
        f"0-{TRACE}-00f067aa0ba902b7-01",
        f"00-{TRACE[:-1]}g-00f067aa0ba902b7-01",
        f"{VALID}, {VALID}",  # repeated headers, joined as a WSGI server joins them
    ],
)
def test_a_missing_or_malformed_traceparent_gives_none(value: str | None) -> None:
    assert trace_id_of(value) is None


def _event(**extra: object) -> bytes:
    return failed_request_json(
        event_id="e1", ts=1_700_000_000_000, service="s", ip="203.0.113.1", method="GET", route="/r",
        status=401, reason="missing_token", user_agent="", request_id="", **extra,  # type: ignore[arg-type]
    )  # fmt: skip


def test_consumers_accept_events_with_and_without_a_trace_id() -> None:
    assert b"trace_id" not in _event()  # an event without one stays byte for byte as before
    assert FailedRequest.model_validate_json(_event()).trace_id is None
    assert FailedRequest.model_validate_json(_event(trace_id=TRACE)).trace_id == TRACE


def test_a_trace_id_that_is_not_32_hex_digits_fails_the_schema() -> None:
    with pytest.raises(ValidationError):
        FailedRequest.model_validate_json(_event(trace_id="not-a-trace-id"))

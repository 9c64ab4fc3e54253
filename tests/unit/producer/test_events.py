"""Out-of-range fields: the schema refuses them, the capture never makes them."""

from __future__ import annotations

import httpx
import pytest
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse

from failstream.events import (
    METHOD_MAX,
    TS_MAX_MS,
    TS_MIN_MS,
    EmailEvent,
    FailedRequest,
    failed_request_json,
)
from failstream.producer.asgi import FailureCaptureMiddleware
from failstream.producer.capture import FailureRecorder
from failstream.settings import Settings

GOOD = {
    "event_id": "0190c0de-0000-7000-8000-000000000001",
    "ts": 1_700_000_000_000,
    "service": "api",
    "ip": "203.0.113.9",
    "method": "POST",
    "route": "/login",
    "status": 401,
    "reason": "invalid_token",
}


@pytest.mark.parametrize(
    "field, value",
    [
        ("ts", TS_MIN_MS - 1),  # 1999-12-31T23:59:59.999Z
        ("ts", TS_MAX_MS),  # 2100-01-01
        ("ts", 10**30),
        ("method", "M" * (METHOD_MAX + 1)),
        ("route", "/" * 501),
        ("user_agent", "u" * 100_000),
        ("event_id", "e" * 65),
        ("status", 999),
    ],
)
def test_a_failed_request_with_a_field_out_of_range_is_refused(field: str, value: object) -> None:
    with pytest.raises(ValidationError):
        FailedRequest.model_validate({**GOOD, field: value})


def test_the_edges_of_the_time_range_are_accepted() -> None:
    assert FailedRequest.model_validate({**GOOD, "ts": TS_MIN_MS}).ts == TS_MIN_MS
    assert FailedRequest.model_validate({**GOOD, "ts": TS_MAX_MS - 1}).ts == TS_MAX_MS - 1


@pytest.mark.parametrize("field, value", [("ts", 0), ("attempt", 10**20), ("message_id", "m" * 501)])
def test_an_email_event_with_a_field_out_of_range_is_refused(field: str, value: object) -> None:
    event = {
        "event_id": "m1",
        "ts": 1_700_000_000_000,
        "service": "mailer",
        "message_id": "<m@x>",
        "recipient_domain": "example.org",
        "status": "sent",
    }
    with pytest.raises(ValidationError):
        EmailEvent.model_validate({**event, field: value})


@pytest.mark.parametrize("ts", [0, TS_MIN_MS - 1, TS_MAX_MS, 2**62])
def test_what_the_capture_serialises_always_passes_the_schema(ts: int) -> None:
    value = failed_request_json(
        event_id=GOOD["event_id"],
        ts=ts,
        service="s" * 1000,
        ip="i" * 1000,
        method="PROPFIND" * 10,
        route="/r" * 10_000,
        status=401,
        reason="missing_token",
        user_agent="ua" * 1_000_000,
        request_id="q" * 10_000,
    )
    event = FailedRequest.model_validate_json(value)
    assert TS_MIN_MS <= event.ts < TS_MAX_MS
    assert event.method == "PROPFIND" * 2


async def _denied(request: Request) -> PlainTextResponse:
    return PlainTextResponse("no", status_code=401)


async def test_a_request_with_an_absurd_method_and_user_agent_still_makes_a_valid_event(
    unit_settings: Settings, recording_sink
) -> None:
    app = Starlette()
    app.add_route("/{path:path}", _denied, methods=["X" * 40])
    app.add_middleware(FailureCaptureMiddleware, recorder=FailureRecorder(unit_settings, recording_sink))
    transport = httpx.ASGITransport(app=app, client=("203.0.113.1", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.request("X" * 40, "/" + "p" * 5000, headers={"User-Agent": "a" * 50_000})
    assert response.status_code == 401
    [(_, _, value)] = recording_sink.sent
    event = FailedRequest.model_validate_json(value)
    assert (event.method, len(event.user_agent)) == ("X" * METHOD_MAX, 500)

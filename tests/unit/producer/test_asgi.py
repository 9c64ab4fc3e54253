from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from failstream.producer.asgi import FailureCaptureMiddleware
from failstream.producer.capture import FailureRecorder
from failstream.producer.capture_queue import flush_capture
from failstream.producer.classify import set_failure_reason

SECRET = "s3cr3t-token-value"


async def item(request: Request) -> JSONResponse:
    auth = request.headers.get("authorization")
    if auth is None:
        return JSONResponse({"detail": "no"}, status_code=401)
    if "expired" in auth:
        set_failure_reason(request.state, "expired_token")
    return JSONResponse({"detail": "no"}, status_code=401, headers={"WWW-Authenticate": "Bearer"})


async def ok(request: Request) -> PlainTextResponse:
    return PlainTextResponse("fine")


async def boom(request: Request) -> PlainTextResponse:
    raise RuntimeError("host bug")


def _client(recorder: FailureRecorder) -> httpx.AsyncClient:
    app = Starlette(
        routes=[
            Route("/items/{item_id}", item, methods=["GET", "POST"]),
            Route("/ok", ok),
            Route("/boom", boom),
            Route("/healthz", item),
        ]
    )
    app.add_middleware(FailureCaptureMiddleware, recorder=recorder)
    return _http(app)


def _http(app: object) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=("10.0.0.7", 5000))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture
def recorder(unit_settings, recording_sink) -> FailureRecorder:
    return FailureRecorder(unit_settings, recording_sink)


async def test_a_401_becomes_one_event_with_route_template_ip_and_reason(recorder, recording_sink) -> None:
    client = _client(recorder)
    response = await client.get(
        "/items/123", headers={"X-Forwarded-For": "198.51.100.4", "User-Agent": "ua/1"}
    )
    assert response.status_code == 401
    [event] = recording_sink.events()
    assert event["route"] == "/items/{item_id}"
    assert event["ip"] == "198.51.100.4"  # peer 10.0.0.7 is a trusted proxy
    assert event["reason"] == "missing_token"
    assert event["status"] == 401 and event["method"] == "GET" and event["service"] == "unit"
    assert recording_sink.sent[0][1] == b"198.51.100.4"  # keyed by client IP


async def test_host_reason_and_invalid_token_are_told_apart(recorder, recording_sink) -> None:
    client = _client(recorder)
    await client.get("/items/1", headers={"Authorization": "Bearer wrong"})
    await client.get("/items/1", headers={"Authorization": "Bearer expired-one"})
    assert [e["reason"] for e in recording_sink.events()] == ["invalid_token", "expired_token"]


async def test_successful_and_skipped_requests_are_not_captured(recorder, recording_sink) -> None:
    client = _client(recorder)
    assert (await client.get("/ok")).text == "fine"
    assert (await client.get("/healthz")).status_code == 401  # in the default skip list
    assert recording_sink.sent == []


async def test_an_exception_is_captured_as_server_error_and_re_raised_unchanged(
    recorder, recording_sink
) -> None:
    client = _client(recorder)
    with pytest.raises(RuntimeError, match="host bug"):
        await client.get("/boom")
    [event] = recording_sink.events()
    assert (event["status"], event["reason"], event["route"]) == (500, "server_error", "/boom")


async def test_unmatched_paths_are_not_recorded_raw(unit_settings, recording_sink) -> None:
    settings = unit_settings.model_copy(update={"capture_all_4xx": True})
    client = _client(FailureRecorder(settings, recording_sink))
    assert (await client.get("/users/42/secret-path")).status_code == 404
    [event] = recording_sink.events()
    assert event["route"] == "<unmatched>" and event["reason"] == "not_found"


async def test_nothing_secret_reaches_the_event(recorder, recording_sink) -> None:
    client = _client(recorder)
    await client.post(
        f"/items/9?token={SECRET}",
        headers={"Authorization": f"Bearer {SECRET}", "Cookie": f"session={SECRET}"},
        content=f"password={SECRET}",
    )
    [(_, key, value)] = recording_sink.sent
    assert SECRET.encode() not in value and SECRET.encode() not in (key or b"")


async def test_the_response_is_passed_through_untouched(recorder) -> None:
    response = await _client(recorder).get("/items/5", headers={"Authorization": "Bearer x"})
    assert response.json() == {"detail": "no"}
    assert response.headers["www-authenticate"] == "Bearer"


async def test_a_failing_sink_never_reaches_the_host(unit_settings) -> None:
    class BrokenSink:
        def send(self, *args: object) -> None:
            raise OSError("disk gone")

    client = _client(FailureRecorder(unit_settings, BrokenSink()))  # type: ignore[arg-type]
    assert (await client.get("/items/1")).status_code == 401


async def test_one_line_install_with_settings_only_queues_and_the_capture_thread_sends(
    unit_settings, recording_sink
) -> None:
    app = Starlette(routes=[Route("/items/{item_id}", item)])
    app.add_middleware(FailureCaptureMiddleware, settings=unit_settings, sink=recording_sink)
    await _http(app).get("/items/1")
    assert flush_capture()
    [event] = recording_sink.events()
    assert (event["route"], event["status"], event["reason"]) == ("/items/{item_id}", 401, "missing_token")

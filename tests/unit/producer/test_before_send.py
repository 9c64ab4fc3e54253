"""before_send: the host scrubs or drops each event, on the capture thread, and its errors drop the event."""

from __future__ import annotations

import logging
import threading
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from failstream.producer.asgi import FailureCaptureMiddleware
from failstream.producer.capture import FailureRecorder
from failstream.producer.capture_queue import flush_capture
from failstream.producer.wsgi import FailureCaptureWSGIMiddleware, set_route
from failstream.settings import Settings
from tests.unit.producer.conftest import RecordingSink

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE}-00f067aa0ba902b7-01"


def _discarded(cause: str, service: str) -> float:
    labels = {"cause": cause, "status": "401", "service": service}
    return REGISTRY.get_sample_value("failstream_producer_discarded_events_total", labels) or 0.0


def _fail(recorder: FailureRecorder, user_agent: str = "curl/8") -> None:
    recorder.record("203.0.113.77", None, None, "GET", "/r", 401, False, None, user_agent, "rid")


def _pseudonym(event: dict[str, Any]) -> dict[str, Any]:
    event["ip"] = "pseudo-" + event["ip"].rsplit(".", 1)[0]
    event["user_agent"] = ""
    return event


def test_the_hook_scrubs_the_event_and_the_key_follows_its_ip(unit_settings: Settings) -> None:
    sink = RecordingSink()
    _fail(FailureRecorder(unit_settings, sink, before_send=_pseudonym))  # type: ignore[arg-type]
    [(_, key, _)] = sink.sent
    [event] = sink.events()
    assert (key, event["ip"], event["user_agent"], event["route"]) == (
        b"pseudo-203.0.113",
        "pseudo-203.0.113",
        "",
        "/r",
    )


def test_a_hook_returning_none_drops_the_event_and_it_is_counted(unit_settings: Settings) -> None:
    settings = unit_settings.model_copy(update={"service_name": "dropping"})
    sink = RecordingSink()
    recorder = FailureRecorder(settings, sink, before_send=lambda e: None if e["user_agent"] == "bot" else e)  # type: ignore[arg-type]
    before = _discarded("before_send", "dropping")
    _fail(recorder, "bot")
    _fail(recorder, "person")
    assert [e["user_agent"] for e in sink.events()] == ["person"]
    assert _discarded("before_send", "dropping") - before == 1


@pytest.mark.parametrize("hook", ["raises", "returns a list", "removes the ip"])
def test_a_failing_hook_drops_the_event_counts_every_error_and_logs_only_the_first(
    unit_settings: Settings, caplog: pytest.LogCaptureFixture, hook: str
) -> None:
    settings = unit_settings.model_copy(update={"service_name": f"broken-{hook[:6]}"})

    def broken(event: dict[str, Any]) -> Any:
        if hook == "raises":
            raise KeyError("no such field")
        if hook == "returns a list":
            return [event]
        del event["ip"]
        return event

    sink = RecordingSink()
    recorder = FailureRecorder(settings, sink, before_send=broken)  # type: ignore[arg-type]
    before = _discarded("before_send_error", settings.service_name)
    with caplog.at_level(logging.ERROR, logger="failstream.producer"):
        for _ in range(3):
            _fail(recorder)
    assert sink.sent == []
    assert _discarded("before_send_error", settings.service_name) - before == 3
    assert len([r for r in caplog.records if "before_send" in r.getMessage()]) == 1


def _threads_hook(threads: list[str]) -> Any:
    def hook(event: dict[str, Any]) -> dict[str, Any]:
        threads.append(threading.current_thread().name)
        return event

    return hook


async def _denied(request: Request) -> PlainTextResponse:
    return PlainTextResponse("no", status_code=401)


async def test_asgi_runs_the_hook_on_the_capture_thread_and_keeps_the_trace_id(
    unit_settings: Settings,
) -> None:
    sink, threads = RecordingSink(), []
    app = Starlette(routes=[Route("/items/{item_id}", _denied)])
    app.add_middleware(
        FailureCaptureMiddleware, settings=unit_settings, sink=sink, before_send=_threads_hook(threads)
    )
    transport = httpx.ASGITransport(app=app, client=("203.0.113.1", 5000))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        await client.get("/items/1", headers={"traceparent": TRACEPARENT})
        await client.get("/items/2")
    assert flush_capture()
    assert threads == ["failstream-capture", "failstream-capture"]
    with_trace, without = sink.events()
    assert with_trace["trace_id"] == TRACE
    assert "trace_id" not in without


def test_wsgi_runs_the_hook_on_the_capture_thread_and_keeps_the_trace_id(unit_settings: Settings) -> None:
    sink, threads = RecordingSink(), []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        set_route(environ, "/items/<id>")
        start_response("401 Unauthorized", [])
        return [b"no"]

    wrapped = FailureCaptureWSGIMiddleware(
        app,
        settings=unit_settings,
        sink=sink,
        before_send=_threads_hook(threads),  # type: ignore[arg-type]
    )
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/items/1", "REMOTE_ADDR": "203.0.113.1"}
    list(wrapped({**environ, "HTTP_TRACEPARENT": TRACEPARENT}, lambda *a: None))
    list(wrapped({**environ, "HTTP_TRACEPARENT": "00-broken"}, lambda *a: None))
    assert flush_capture()
    assert threads == ["failstream-capture", "failstream-capture"]
    with_trace, malformed = sink.events()
    assert with_trace["trace_id"] == TRACE
    assert "trace_id" not in malformed


def test_a_hook_beside_a_recorder_is_refused(unit_settings: Settings) -> None:
    recorder = FailureRecorder(unit_settings, RecordingSink())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="before_send"):
        FailureCaptureMiddleware(_denied, recorder=recorder, before_send=lambda e: e)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="before_send"):
        FailureCaptureWSGIMiddleware(lambda e, s: [], recorder=recorder, before_send=lambda e: e)


def test_a_hook_that_cannot_be_called_is_refused_at_start_up(unit_settings: Settings) -> None:
    with pytest.raises(TypeError, match="callable"):
        FailureCaptureMiddleware(_denied, settings=unit_settings, before_send="scrub")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="callable"):
        FailureCaptureWSGIMiddleware(lambda e, s: [], settings=unit_settings, before_send="scrub")  # type: ignore[arg-type]

"""A quiet host's lone failures reach Kafka within a second, through the README's one-line install.

Nothing hand-built: the middleware is added exactly as the README says (the
capture queue's thread builds the event and the shared sink sends it, all in
the host process), and latency is measured from just before the request to
the broker's append time of its event.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from werkzeug.exceptions import Forbidden, HTTPException, InternalServerError
from werkzeug.routing import Map, Rule

from failstream.producer.asgi import FailureCaptureMiddleware
from failstream.producer.shared import close_shared_sinks
from failstream.producer.wsgi import FailureCaptureWSGIMiddleware, set_route
from failstream.settings import Settings
from tests.integration.producer.arrivals import arrivals, stamp_on_arrival
from tests.integration.producer.support import UvicornThread, WsgiThread
from tests.integration.services import free_port

pytestmark = pytest.mark.integration

WITHIN_MS = 1000


@pytest.fixture
def quiet_settings(settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    quiet = settings.model_copy(update={"producer_spool_dir": tmp_path / "spool", "service_name": "quiet"})
    stamp_on_arrival(quiet, quiet.topic_failed_requests)
    yield quiet
    close_shared_sinks(10)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _latencies(settings: Settings, sent_ms: dict[str, int]) -> dict[str, int]:
    """Per request id: ms from just before the request to the broker appending its event."""
    found = arrivals(settings, settings.topic_failed_requests, expect=len(sent_ms), timeout_s=30)
    assert sorted(event["request_id"] for _, event in found) == sorted(sent_ms)
    return {event["request_id"]: appended - sent_ms[event["request_id"]] for appended, event in found}


async def _login(request: Request) -> PlainTextResponse:
    return PlainTextResponse("no", status_code=401, headers={"WWW-Authenticate": "Bearer"})


def test_a_lone_401_to_an_idle_starlette_app_reaches_kafka_within_a_second(quiet_settings: Settings) -> None:
    """Right after start-up (the Kafka client starts with the server), and again once the host sat idle."""
    settings = quiet_settings
    app = Starlette(routes=[Route("/login", _login, methods=["POST"])])
    app.add_middleware(FailureCaptureMiddleware, settings=settings)  # the README's line
    port = free_port()
    sent_ms: dict[str, int] = {}
    with UvicornThread(app, port, lifespan="on"):  # uvicorn's default runs the lifespan too
        for _ in range(2):
            request_id = uuid.uuid4().hex
            sent_ms[request_id] = _now_ms()
            response = httpx.post(f"http://127.0.0.1:{port}/login", headers={"X-Request-ID": request_id})
            assert response.status_code == 401
            # the next one comes only after this one arrived: one lone failure at a time
            latency = _latencies(settings, sent_ms)
    first, idle = (latency[request_id] for request_id in sent_ms)
    print(f"starlette quiet-host latency: {first} ms after start-up, {idle} ms when idle")
    assert max(first, idle) <= WITHIN_MS, latency


class _FlaskShapedApp:
    """A werkzeug app shaped like Flask (``app.wsgi_app``), so the README's Flask line applies as is."""

    def __init__(self) -> None:
        self.urls = Map([Rule("/admin/<int:user_id>", endpoint="admin"), Rule("/report", endpoint="report")])

    def wsgi_app(self, environ: dict, start_response: object) -> object:
        try:
            rule, _ = self.urls.bind_to_environ(environ).match(return_rule=True)
            set_route(environ, rule.rule)
            if rule.endpoint == "admin":
                raise Forbidden()
            raise InternalServerError()
        except HTTPException as exc:
            return exc(environ, start_response)  # type: ignore[arg-type]

    def __call__(self, environ: dict, start_response: object) -> object:
        return self.wsgi_app(environ, start_response)


def test_a_few_403s_and_500s_to_an_idle_flask_app_each_reach_kafka_within_a_second(
    quiet_settings: Settings,
) -> None:
    settings = quiet_settings
    app = _FlaskShapedApp()
    app.wsgi_app = FailureCaptureWSGIMiddleware(app.wsgi_app, settings=settings)  # type: ignore[method-assign]
    port = free_port()
    sent_ms: dict[str, int] = {}
    with WsgiThread(app, port):
        for path, status in [("/admin/7", 403), ("/report", 500), ("/admin/8", 403), ("/report", 500)]:
            request_id = uuid.uuid4().hex
            sent_ms[request_id] = _now_ms()
            response = httpx.get(f"http://127.0.0.1:{port}{path}", headers={"X-Request-ID": request_id})
            assert response.status_code == status
        latency = _latencies(settings, sent_ms)
    print(f"flask-shaped quiet-host latencies: {sorted(latency.values())} ms")
    assert max(latency.values()) <= WITHIN_MS, latency

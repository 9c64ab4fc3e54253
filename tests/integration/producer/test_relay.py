"""The relay process builds and sends what the middlewares hand it, into the real broker, once."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from failstream.producer.asgi import FailureCaptureMiddleware
from failstream.producer.email_events import report_email_event
from failstream.producer.relay_client import RelayClient, shared_relay
from failstream.producer.shared import close_shared_sinks
from failstream.producer.wsgi import FailureCaptureWSGIMiddleware, set_route
from failstream.settings import Settings
from tests.integration.producer.support import UvicornThread, WsgiThread, read_events
from tests.integration.services import free_port

pytestmark = pytest.mark.integration

SECRET = "tok-relay-5e4d3c2b1a"


@pytest.fixture
def relay_settings(settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    relay = settings.model_copy(
        update={
            "trusted_proxies": ("127.0.0.3/32",),
            "producer_spool_dir": tmp_path / "spool",
            "service_name": "relayed",
            "producer_relay": True,
        }
    )
    yield relay
    shared_relay(relay).close(10)
    close_shared_sinks(10)


async def _denied(request: Request) -> PlainTextResponse:
    return PlainTextResponse(
        "no", status_code=401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
    )


def _asgi_app(settings: Settings) -> Starlette:
    app = Starlette(routes=[Route("/orders/{order_id}", _denied, methods=["GET"])])
    app.add_middleware(FailureCaptureMiddleware, settings=settings)  # the one line a host adds
    return app


def _get(url: str, source_ip: str, headers: dict[str, str]) -> int:
    with httpx.Client(transport=httpx.HTTPTransport(local_address=source_ip), timeout=5) as client:
        return client.get(url, headers=headers).status_code


def _captured(service: str, reason: str, status: str) -> float:
    value = REGISTRY.get_sample_value(
        "failstream_producer_captured_events_total", {"service": service, "reason": reason, "status": status}
    )
    return value or 0.0


def test_asgi_failures_go_through_the_relay_once_with_real_ip_reason_route_and_no_secrets(
    relay_settings: Settings,
) -> None:
    started_ms = time.time_ns() // 1_000_000
    port = free_port()
    with UvicornThread(_asgi_app(relay_settings), port):
        url = f"http://127.0.0.1:{port}/orders/17?api_key={SECRET}"
        statuses = [
            _get(url, "127.0.0.2", {"X-Forwarded-For": "1.2.3.4", "Cookie": f"sid={SECRET}"}),
            _get(url, "127.0.0.3", {"X-Forwarded-For": "198.51.100.7", "Authorization": f"Bearer {SECRET}"}),
        ]
        statuses += [_get(url, "127.0.0.2", {"User-Agent": "probe/1"}) for _ in range(98)]
    assert statuses == [401] * 100
    relay = shared_relay(relay_settings)
    assert relay.close(10) == 0
    events = read_events(relay_settings, relay_settings.topic_failed_requests, expect=100)
    assert len(events) == 100
    assert len({event["event_id"] for _, event in events}) == 100
    # partitions are keyed by IP: order holds within an IP, not across them
    [proxied] = [event for _, event in events if event["ip"] != "127.0.0.2"]
    assert (proxied["ip"], proxied["reason"], proxied["route"], proxied["status"]) == (
        "198.51.100.7",
        "invalid_token",
        "/orders/{order_id}",
        401,
    )
    forged = [event for _, event in events if event["ip"] == "127.0.0.2" and event["user_agent"] != "probe/1"]
    assert [(e["reason"], e["route"]) for e in forged] == [("missing_token", "/orders/{order_id}")]
    assert all(key == event["ip"].encode() for key, event in events)
    assert all(event["service"] == "relayed" and event["ts"] >= started_ms for _, event in events)
    assert sum(event["user_agent"] == "probe/1" for _, event in events) == 98
    for key, event in events:
        assert SECRET not in str(event) and SECRET.encode() not in (key or b"")
    # counted in the relay, published in the host's own registry
    assert _captured("relayed", "missing_token", "401") >= 99


def _wsgi_app(environ: dict, start_response: object) -> list[bytes]:
    set_route(environ, "/legacy/{id}")
    start_response("503 Service Unavailable", [("Content-Type", "text/plain")])  # type: ignore[operator]
    return [b"down"]


def test_wsgi_failures_go_through_the_relay(relay_settings: Settings) -> None:
    port = free_port()
    with WsgiThread(FailureCaptureWSGIMiddleware(_wsgi_app, settings=relay_settings), port):
        for _ in range(5):
            assert httpx.get(f"http://127.0.0.1:{port}/legacy/3", timeout=5).status_code == 503
    assert shared_relay(relay_settings).close(10) == 0
    events = read_events(relay_settings, relay_settings.topic_failed_requests, expect=5)
    assert [(e["route"], e["status"], e["reason"]) for _, e in events] == [
        ("/legacy/{id}", 503, "server_error")
    ] * 5


def test_email_events_go_through_the_relay(relay_settings: Settings) -> None:
    event = report_email_event(
        relay_settings, service="shop", message_id="<m@shop>", recipient="a@Example.net", status="bounced"
    )
    assert shared_relay(relay_settings).close(10) == 0
    [(key, found)] = read_events(relay_settings, relay_settings.topic_email_events, expect=1)
    assert key == b"example.net" and found["event_id"] == event.event_id


def _entry(settings: Settings, ip: str) -> tuple:
    return ("a", time.time_ns() // 1_000_000, "relayed", ip, [], "GET", "/r", 401, None, None)


def test_a_killed_relay_is_replaced_and_later_failures_still_arrive(relay_settings: Settings) -> None:
    relay = RelayClient(relay_settings)
    try:
        for i in range(10):
            relay.add(_entry(relay_settings, f"10.9.0.{i}"))
        relay.ship()
        read_events(relay_settings, relay_settings.topic_failed_requests, expect=10)
        first = relay._proc
        assert first is not None
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
        for i in range(10, 30):
            relay.add(_entry(relay_settings, f"10.9.0.{i}"))
            relay.ship()  # the first ships find the pipe broken: the relay is started again
            time.sleep(0.05)
        assert relay._proc is not None and relay._proc.pid != first.pid
        assert relay.restarts == 1
    finally:
        assert relay.close(10) == 0
    events = read_events(relay_settings, relay_settings.topic_failed_requests, expect=30)
    assert sorted(event["ip"] for _, event in events) == sorted(f"10.9.0.{i}" for i in range(30))


@pytest.mark.parametrize("python", ["missing", "/bin/false"], ids=["cannot-start", "dies-at-once"])
def test_where_no_relay_can_run_the_host_sends_the_events_itself(
    relay_settings: Settings, python: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    if python == "missing":
        python = str(Path(relay_settings.producer_spool_dir) / "no-python")
    monkeypatch.setattr(sys, "executable", python)
    relay = RelayClient(relay_settings)
    for i in range(7):
        relay.add(_entry(relay_settings, f"10.8.0.{i}"))
    relay.ship()
    deadline = time.monotonic() + 10
    while relay._fallback is None and time.monotonic() < deadline:
        time.sleep(0.1)  # three tries, a second apart
    assert relay._fallback is not None
    relay.add(_entry(relay_settings, "10.8.0.7"))
    relay.ship()
    assert relay.close(5) == 0
    close_shared_sinks(10)
    events = read_events(relay_settings, relay_settings.topic_failed_requests, expect=8)
    assert sorted(event["ip"] for _, event in events) == sorted(f"10.8.0.{i}" for i in range(8))
    assert any("capturing without the relay" in r.getMessage() for r in caplog.records)

"""Events from both middlewares, served over real HTTP, arrive in the real broker intact."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from failstream.producer.capture_queue import flush_capture
from failstream.producer.classify import set_failure_reason
from failstream.producer.demo_app import create_demo_app
from failstream.producer.sink import KafkaSink
from failstream.producer.wsgi import FailureCaptureWSGIMiddleware, set_route
from failstream.settings import Settings
from tests.integration.producer.support import UvicornThread, WsgiThread, read_events
from tests.integration.services import free_port

pytestmark = pytest.mark.integration

SECRET = "tok-9f8e7d6c5b4a"


@pytest.fixture
def capture_settings(settings: Settings, tmp_path: Path) -> Settings:
    # 127.0.0.3 plays a reverse proxy; 127.0.0.2 is a client that forges headers
    return settings.model_copy(
        update={
            "trusted_proxies": ("127.0.0.3/32",),
            "producer_spool_dir": tmp_path / "spool",
            "service_name": "it",
        }
    )


@pytest.fixture
def sink(capture_settings: Settings) -> Iterator[KafkaSink]:
    sink = KafkaSink(capture_settings)
    sink.start()
    yield sink
    sink.close(10)


def _post(url: str, source_ip: str, **kwargs: object) -> int:
    transport = httpx.HTTPTransport(local_address=source_ip)
    with httpx.Client(transport=transport, timeout=5) as client:
        return client.post(url, **kwargs).status_code  # type: ignore[arg-type]


def _assert_no_secret(raw_events: list[tuple[bytes | None, dict]]) -> None:
    for key, event in raw_events:
        assert SECRET not in str(event) and SECRET.encode() not in (key or b"")


def test_asgi_events_carry_real_ip_reason_route_and_status_and_no_secrets(
    capture_settings: Settings, sink: KafkaSink
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/api/submit?api_key={SECRET}"
    with UvicornThread(create_demo_app(capture_settings, sink), port):
        statuses = [
            # forged X-Forwarded-For from an untrusted peer: ignored
            _post(url, "127.0.0.2", headers={"X-Forwarded-For": "1.2.3.4", "Cookie": f"sid={SECRET}"}),
            # through the trusted proxy: the client it names counts
            _post(
                url,
                "127.0.0.3",
                headers={"X-Forwarded-For": "198.51.100.7", "Authorization": f"Bearer {SECRET}"},
                content=f'{{"password": "{SECRET}"}}',
            ),
            _post(
                f"http://127.0.0.1:{port}/api/submit",
                "127.0.0.2",
                headers={"Authorization": f"Bearer {capture_settings.demo_tokens[0].get_secret_value()}"},
            ),
        ]
        assert statuses == [401, 401, 200]
        assert flush_capture() and sink.flush(15) == 0
        scrape = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        labels = 'reason="missing_token",service="it",status="401"'
        assert f"failstream_producer_captured_events_total{{{labels}}}" in scrape
        assert "failstream_producer_delivered_events_total" in scrape

    found = read_events(capture_settings, capture_settings.topic_failed_requests, expect=2)
    by_ip = {event["ip"]: (key, event) for key, event in found}
    assert len(found) == 2 and set(by_ip) == {"127.0.0.2", "198.51.100.7"}
    key, forged = by_ip["127.0.0.2"]
    assert key == b"127.0.0.2"
    assert (forged["reason"], forged["route"], forged["status"], forged["method"]) == (
        "missing_token",
        "/api/submit",
        401,
        "POST",
    )
    assert by_ip["198.51.100.7"][1]["reason"] == "invalid_token"
    assert {event["service"] for _, event in found} == {"it"}
    _assert_no_secret(found)


def _wsgi_app(environ: dict, start_response) -> list[bytes]:
    set_route(environ, "/orders/<int:order_id>")
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if not auth:
        start_response("401 Unauthorized", [("WWW-Authenticate", "Bearer")])
        return [b"no token"]
    if auth.endswith("-old"):
        set_failure_reason(environ, "expired_token")
    start_response("401 Unauthorized", [("WWW-Authenticate", 'Bearer error="invalid_token"')])
    return [b"bad token"]


def test_wsgi_events_carry_real_ip_reason_route_and_status_and_no_secrets(
    capture_settings: Settings, sink: KafkaSink
) -> None:
    port = free_port()
    app = FailureCaptureWSGIMiddleware(_wsgi_app, settings=capture_settings, sink=sink)
    url = f"http://127.0.0.1:{port}/orders/42?token={SECRET}"
    with WsgiThread(app, port):
        statuses = [
            _post(url, "127.0.0.2", headers={"X-Forwarded-For": "1.2.3.4"}),
            _post(
                url,
                "127.0.0.3",
                headers={"X-Forwarded-For": "198.51.100.9", "Authorization": f"Bearer {SECRET}"},
            ),
            _post(
                url, "127.0.0.2", headers={"Authorization": f"Bearer {SECRET}-old", "Cookie": f"s={SECRET}"}
            ),
        ]
    assert statuses == [401, 401, 401]
    assert flush_capture() and sink.flush(15) == 0

    found = read_events(capture_settings, capture_settings.topic_failed_requests, expect=3)
    assert len(found) == 3
    assert sorted((e["ip"], e["reason"]) for _, e in found) == [
        ("127.0.0.2", "expired_token"),
        ("127.0.0.2", "missing_token"),
        ("198.51.100.9", "invalid_token"),
    ]
    assert {(e["route"], e["status"], e["method"]) for _, e in found} == {
        ("/orders/<int:order_id>", 401, "POST")
    }
    _assert_no_secret(found)

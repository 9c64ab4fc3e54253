"""A WSGI host with ``FAILSTREAM_ENFORCE`` follows the real decisions topic: refuses, lifts, records it.

Decisions are published as the alerting relay publishes them (its
``record_of``), onto the test's compacted topic on the real broker; the
host is the WSGI capture middleware under the standard library's server.
Behind a trusted proxy (127.0.0.3) the forwarded client is the one refused.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Producer

from failstream.alerting.decision_relay import record_of
from failstream.decisions.model import Decision
from failstream.kafka_config import confluent_config, ensure_topics
from failstream.producer.capture_queue import flush_capture
from failstream.producer.enforcement_wsgi import DecisionEnforcementWSGIMiddleware
from failstream.producer.sink import KafkaSink
from failstream.producer.wsgi import FailureCaptureWSGIMiddleware
from failstream.settings import Settings
from tests.integration.producer.support import WsgiThread, read_events
from tests.integration.services import free_port, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def enforce_settings(settings: Settings, tmp_path: Path) -> Settings:
    enforcing = settings.model_copy(
        update={
            "enforce": True,
            "topic_decisions": f"{settings.topic_alerts}-decisions",
            "trusted_proxies": ("127.0.0.3/32",),
            "producer_spool_dir": tmp_path / "spool",
            "service_name": "enforce-it",
        }
    )
    ensure_topics(enforcing)
    return enforcing


@pytest.fixture
def sink(enforce_settings: Settings) -> Iterator[KafkaSink]:
    sink = KafkaSink(enforce_settings)
    sink.start()
    yield sink
    sink.close(10)


def publish(settings: Settings, subject: str, until_s: float | None) -> None:
    """A decision (or its tombstone, for None) on the decisions topic, as the relay writes it."""
    now = int(time.time() * 1000)
    decision = None
    if until_s is not None:
        kind = "prefix" if "/" in subject else "ip"
        decision = Decision(
            subject=subject,
            kind=kind,
            rule="ip-failures",
            alert_key="k",
            until=now + int(until_s * 1000),
            decided_at=now,
        )
    key, value, headers = record_of(subject, decision, "test")
    producer = Producer(confluent_config(settings))
    producer.produce(settings.topic_decisions, key=key, value=value, headers=headers)
    assert producer.flush(15) == 0


def _app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"served"]


def status(url: str, source: str, forwarded_for: str | None = None) -> httpx.Response:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    with httpx.Client(transport=httpx.HTTPTransport(local_address=source), timeout=5) as client:
        return client.get(url, headers=headers)


def test_a_wsgi_host_refuses_decided_clients_from_the_topic_and_serves_them_again_when_lifted(
    enforce_settings: Settings, sink: KafkaSink
) -> None:
    publish(enforce_settings, "127.0.0.2", 120)
    publish(enforce_settings, "198.51.100.0/24", 120)
    publish(enforce_settings, "127.0.0.4", 120)
    publish(enforce_settings, "127.0.0.4", None)  # lifted: the tombstone wins
    port = free_port()
    url = f"http://127.0.0.1:{port}/orders"
    app = FailureCaptureWSGIMiddleware(_app, settings=enforce_settings, sink=sink)
    with WsgiThread(app, port):
        status(url, "127.0.0.5")  # the first request starts the feed
        wait_until(lambda: status(url, "127.0.0.2").status_code == 429, 30, "the decided client refused")
        refused = status(url, "127.0.0.2")
        assert 110 <= int(refused.headers["Retry-After"]) <= 120 and refused.text.startswith("refused")
        assert status(url, "127.0.0.4").status_code == 200
        assert status(url, "127.0.0.5").status_code == 200
        # behind the trusted proxy: the forwarded client counts, in a decided prefix or not
        assert status(url, "127.0.0.3", "198.51.100.77").status_code == 429
        assert status(url, "127.0.0.3", "192.0.2.1").status_code == 200
        publish(enforce_settings, "127.0.0.2", None)
        wait_until(lambda: status(url, "127.0.0.2").status_code == 200, 30, "the lifted client served")
    assert flush_capture() and sink.flush(15) == 0
    found = read_events(enforce_settings, enforce_settings.topic_failed_requests, expect=3)
    blocked = sorted({(e["ip"], e["status"], e["reason"]) for _, e in found})
    assert blocked == [("127.0.0.2", 429, "blocked"), ("198.51.100.77", 429, "blocked")]


def test_with_the_decisions_topic_unreachable_every_client_is_served_at_once(
    enforce_settings: Settings, tmp_path: Path
) -> None:
    nowhere = enforce_settings.model_copy(update={"kafka_bootstrap_servers": f"127.0.0.1:{free_port()}"})
    port = free_port()
    url = f"http://127.0.0.1:{port}/orders"
    app = FailureCaptureWSGIMiddleware(_app, settings=nowhere, sink=None)
    with WsgiThread(app, port):
        started = time.monotonic()
        statuses = [status(url, "127.0.0.2").status_code for _ in range(20)]
        took = time.monotonic() - started
    assert statuses == [200] * 20
    assert took < 5, f"20 requests took {took:.1f} s: the unreachable feed must not hold them"
    layer = app.app
    assert isinstance(layer, DecisionEnforcementWSGIMiddleware) and layer.enforcer.feed is not None
    assert layer.enforcer.feed.ready is False  # never read the topic: nothing enforced
    layer.enforcer.feed.stop()

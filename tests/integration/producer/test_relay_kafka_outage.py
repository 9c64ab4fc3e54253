"""A host with the README's one-line install rides out a killed broker: it shows Kafka down, then back,
says so once each, and every failure captured meanwhile arrives once.

The broker is a throw-away one; the shared broker is never stopped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from failstream.kafka_config import ensure_topics
from failstream.producer.asgi import FailureCaptureMiddleware
from failstream.producer.relay_client import shared_relay
from failstream.producer.shared import close_shared_sinks
from failstream.settings import Settings
from tests.integration.producer.support import UvicornThread, read_events
from tests.integration.services import free_port, wait_until
from tests.integration.throwaway import ThrowawayBroker

pytestmark = pytest.mark.integration


@pytest.fixture
def broker(settings: Settings, tmp_path: Path) -> Iterator[ThrowawayBroker]:
    broker = ThrowawayBroker(settings, tmp_path, partitions=1)
    broker.settings = broker.settings.model_copy(
        update={
            "producer_spool_dir": tmp_path / "spool",
            "service_name": "outage",
            "producer_relay": True,
            # shorter than the outage, so the relay's sink really spools and replays
            "producer_message_timeout_ms": 3000,
        }
    )
    try:
        broker.start()
        ensure_topics(broker.settings)
        yield broker
    finally:
        shared_relay(broker.settings).close(10)
        close_shared_sinks(10)
        broker.kill()


async def _login(request: Request) -> PlainTextResponse:
    return PlainTextResponse("no", status_code=401)


def _kafka_up() -> float | None:
    return REGISTRY.get_sample_value("failstream_producer_kafka_up")


def _dropped() -> float:
    return sum(
        REGISTRY.get_sample_value("failstream_producer_dropped_events_total", {"cause": cause}) or 0.0
        for cause in ("spool_full", "spool_error", "spool_corrupt")
    )


def test_a_killed_broker_shows_as_kafka_down_in_the_hosts_metrics_and_every_event_arrives_after_it_is_back(
    broker: ThrowawayBroker, capfd: pytest.CaptureFixture[str]
) -> None:
    settings = broker.settings
    app = Starlette(routes=[Route("/login", _login, methods=["POST"])])
    app.add_middleware(FailureCaptureMiddleware, settings=settings)  # the README's line
    dropped_before = _dropped()
    port = free_port()
    url = f"http://127.0.0.1:{port}/login"
    with UvicornThread(app, port, lifespan="on"):
        for _ in range(3):
            assert httpx.post(url).status_code == 401
        wait_until(
            lambda: len(read_events(settings, settings.topic_failed_requests, 3, 2)) == 3, 30, "3 events"
        )
        assert _kafka_up() == 1

        broker.kill()
        for _ in range(10):
            assert httpx.post(url).status_code == 401  # the host answers as before
        wait_until(lambda: _kafka_up() == 0, 30, "the host's gauge to show Kafka down")
        relay = shared_relay(settings)
        wait_until(
            lambda: relay.relay_stats.get("spooled", 0) > 0, 30, "the relay to spool what Kafka can't take"
        )

        broker.start()
        wait_until(lambda: _kafka_up() == 1, 60, "the host's gauge to show Kafka back")
        for _ in range(2):
            assert httpx.post(url).status_code == 401
        wait_until(
            lambda: relay.relay_stats.get("spool_events", 1) == 0, 60, "the relay's spool to drain by itself"
        )

    found = read_events(settings, settings.topic_failed_requests, expect=15, timeout_s=60)
    ids = Counter(event["event_id"] for _, event in found)
    assert len(ids) == 15 and max(ids.values()) == 1, ids
    assert _dropped() == dropped_before
    err = capfd.readouterr().err
    assert err.count("is down (") == 1, err
    assert err.count("is back after") == 1, err

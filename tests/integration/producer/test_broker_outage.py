"""A 30 s broker outage under steady traffic: the host doesn't notice, Kafka gets every event once.

The broker here is a throw-away one on its own ports and data directory:
the shared broker is never stopped.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from failstream.kafka_config import ensure_topics
from failstream.producer.capture_queue import flush_capture
from failstream.producer.demo_app import create_demo_app
from failstream.producer.sink import KafkaSink
from failstream.settings import Settings
from tests.integration.producer.support import UvicornThread, read_events
from tests.integration.services import free_port
from tests.integration.throwaway import ThrowawayBroker

pytestmark = pytest.mark.integration

OUTAGE_S = 30.0
RATE_PER_S = 25


@pytest.fixture
def broker(settings: Settings, tmp_path: Path) -> Iterator[ThrowawayBroker]:
    spooling = settings.model_copy(
        update={
            "producer_spool_dir": tmp_path / "spool",
            # shorter than the outage, so events really go through the spool
            "producer_message_timeout_ms": 5000,
        }
    )
    broker = ThrowawayBroker(spooling, tmp_path)
    try:
        broker.start()
        ensure_topics(broker.settings)
        yield broker
    finally:
        broker.stop()


class Traffic:
    """Bad-token requests at a steady rate from a thread, recording status and latency."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.results: list[tuple[float, int, float]] = []  # (start, status, seconds)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=10) as client:
            next_at = time.monotonic()
            while not self._stop.is_set():
                started = time.monotonic()
                status = client.post(self.url, headers={"Authorization": "Bearer wrong"}).status_code
                self.results.append((started, status, time.monotonic() - started))
                next_at += 1 / RATE_PER_S
                time.sleep(max(0.0, next_at - time.monotonic()))

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def _p99(latencies: list[float]) -> float:
    ordered = sorted(latencies)
    return ordered[int(0.99 * (len(ordered) - 1))]


def test_requests_answer_through_a_30s_outage_and_every_event_arrives_exactly_once(
    broker: ThrowawayBroker,
) -> None:
    settings = broker.settings
    sink = KafkaSink(settings)
    port = free_port()
    with UvicornThread(create_demo_app(settings, sink), port, lifespan="on"):
        with Traffic(f"http://127.0.0.1:{port}/api/submit") as traffic:
            time.sleep(4)
            outage_start = time.monotonic()
            broker.stop()
            time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - outage_start)))
            broker.start()
            outage_end = time.monotonic()
            time.sleep(4)
        # the capture thread hands the last failures over within its tick: wait for that first
        assert flush_capture(10), "captured failures not handed to the sink"
        assert sink.flush(60) == 0, "spool not drained after the broker came back"
        stats = (sink.delivered, sink.spooled, sink.replayed, sink.dropped_spool_full, sink.dropped_other)

    results = traffic.results
    assert {status for _, status, _ in results} == {401}  # every request answered as before
    before = [s for t, _, s in results if t < outage_start]
    during = [s for t, _, s in results if outage_start <= t < outage_end]
    assert len(during) > OUTAGE_S * RATE_PER_S * 0.5
    assert _p99(during) < max(0.25, 5 * _p99(before)), (_p99(before), _p99(during))

    delivered, spooled, replayed, dropped_full, dropped_other = stats
    assert spooled > 0 and replayed > 0, stats  # the outage really went through the spool
    assert dropped_full == dropped_other == 0
    assert delivered == len(results)

    found = read_events(settings, settings.topic_failed_requests, expect=len(results), timeout_s=60)
    counts = Counter(event["event_id"] for _, event in found)
    duplicates = {event_id: n for event_id, n in counts.items() if n > 1}
    assert not duplicates
    assert len(counts) == len(results)

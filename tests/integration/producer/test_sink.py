"""KafkaSink against the real broker: overflow, restarts, shutdown, email events, metrics."""

from __future__ import annotations

import logging
import time
from collections import Counter
from pathlib import Path

import pytest
from confluent_kafka import KafkaError
from prometheus_client import REGISTRY

from failstream.producer.email_events import report_email_event
from failstream.producer.sink import KafkaSink
from failstream.settings import Settings
from tests.integration.producer.support import read_events
from tests.integration.services import free_port, wait_until

pytestmark = pytest.mark.integration


def _down(settings: Settings, tmp_path: Path, **update: object) -> Settings:
    """Settings whose broker address has nothing listening (a broker that is down)."""
    return settings.model_copy(
        update={
            "kafka_bootstrap_servers": f"127.0.0.1:{free_port()}",
            "producer_spool_dir": tmp_path / "spool",
            "producer_message_timeout_ms": 1000,
            **update,
        }
    )


def _metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_full_local_queue_spills_to_the_spool_and_everything_arrives_once(
    settings: Settings, tmp_path: Path
) -> None:
    tiny_queue = settings.model_copy(
        update={
            "producer_queue_max_messages": 50,
            "producer_spool_dir": tmp_path / "spool",
            "producer_linger_ms": 200,
        }
    )
    sink = KafkaSink(tiny_queue)
    sink.start()
    for i in range(2000):
        sink.send(tiny_queue.topic_failed_requests, f"10.0.0.{i % 7}", b'{"n": %d}' % i)
    assert sink.flush(60) == 0
    # the 50-slot queue overflowed: those went to disk, not to /dev/null, and came back
    assert sink.spooled > 0 and sink.replayed == sink.spooled
    assert sink.dropped_other == sink.dropped_spool_full == 0
    sink.close(5)
    found = read_events(tiny_queue, tiny_queue.topic_failed_requests, expect=2000)
    counts = Counter(event["n"] for _, event in found)
    assert sorted(counts) == list(range(2000)) and set(counts.values()) == {1}


def test_events_left_by_a_stopped_process_are_sent_by_the_next_one(
    settings: Settings, tmp_path: Path
) -> None:
    down = _down(settings, tmp_path)
    first = KafkaSink(down)
    for i in range(5):
        first.send(settings.topic_failed_requests, "10.1.1.1", b'{"n": %d}' % i)
    time.sleep(1.5)  # past the message timeout: the broker is "down"
    started = time.monotonic()
    assert first.close(timeout_s=10) == 5  # shutdown does not wait out its deadline on a dead broker
    assert time.monotonic() - started < 5

    up = settings.model_copy(update={"producer_spool_dir": tmp_path / "spool"})
    second = KafkaSink(up)
    second.start()
    assert second.flush(30) == 0
    second.close(5)
    assert second.replayed == 5
    found = read_events(up, up.topic_failed_requests, expect=5)
    assert [event["n"] for _, event in found] == [0, 1, 2, 3, 4]  # in order: one key, one partition


def test_graceful_shutdown_delivers_what_is_queued(settings: Settings, tmp_path: Path) -> None:
    sink = KafkaSink(
        settings.model_copy(update={"producer_spool_dir": tmp_path / "spool", "producer_linger_ms": 500})
    )
    for i in range(300):
        sink.send(settings.topic_failed_requests, "10.2.2.2", b'{"n": %d}' % i)
    assert sink.close(timeout_s=10) == 0
    assert sink.delivered == 300
    assert len(read_events(settings, settings.topic_failed_requests, expect=300)) == 300


def test_acknowledged_events_are_counted_without_a_report_each(settings: Settings, tmp_path: Path) -> None:
    before = _metric("failstream_producer_delivered_events_total")
    sink = KafkaSink(settings.model_copy(update={"producer_spool_dir": tmp_path / "spool"}))
    sink.start()
    for i in range(5000):  # enough for the sending thread to serve reports itself, many times
        sink.send(settings.topic_failed_requests, f"10.5.5.{i % 5}", b'{"n": %d}' % i)
    assert 0 <= sink.delivered <= 5000
    assert sink.flush(30) == 0
    assert (sink.delivered, sink.delivery_errors, sink.spooled) == (5000, 0, 0)
    sink.close(10)
    assert _metric("failstream_producer_delivered_events_total") - before == 5000


def test_a_full_spool_drops_the_oldest_with_a_metric_and_a_log_line(
    settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="failstream.producer")
    down = _down(settings, tmp_path, producer_spool_max_bytes=4096)
    before = _metric("failstream_producer_dropped_events_total", cause="spool_full")
    sink = KafkaSink(down)
    sink.start()
    started = time.perf_counter()
    for i in range(400):
        sink.send(settings.topic_failed_requests, "10.3.3.3", b'{"n": %d, "pad": "%s"}' % (i, b"x" * 40))
    assert time.perf_counter() - started < 0.5  # the request path never waits on disk or network
    time.sleep(1.5)
    left = sink.close(2)
    assert sink.dropped_spool_full > 0
    assert left + sink.dropped_spool_full == 400  # nothing vanished without being counted
    assert (
        _metric("failstream_producer_dropped_events_total", cause="spool_full") - before
        == sink.dropped_spool_full
    )
    assert any("spool full" in r.getMessage() and "dropped" in r.getMessage() for r in caplog.records)


def test_email_events_arrive_keyed_by_recipient_domain(settings: Settings, tmp_path: Path) -> None:
    sink = KafkaSink(settings.model_copy(update={"producer_spool_dir": tmp_path / "spool"}))
    event = report_email_event(
        settings,
        service="shop",
        message_id="<m-1@shop>",
        recipient="Ann <ann@Example.org>",
        status="bounced",
        attempt=1,
        error="550 5.1.1 unknown user",
        sink=sink,
    )
    assert sink.close(10) == 0
    [(key, found)] = read_events(settings, settings.topic_email_events, expect=1)
    assert key == b"example.org"
    assert found["event_id"] == event.event_id
    assert (found["status"], found["recipient_domain"], found["service"]) == (
        "bounced",
        "example.org",
        "shop",
    )


def test_delivery_and_spool_counters_reach_prometheus(settings: Settings, tmp_path: Path) -> None:
    before = _metric("failstream_producer_delivered_events_total")
    sink = KafkaSink(settings.model_copy(update={"producer_spool_dir": tmp_path / "spool"}))
    for i in range(10):
        sink.send(settings.topic_failed_requests, "10.4.4.4", b'{"n": %d}' % i)
    sink.close(10)
    assert _metric("failstream_producer_delivered_events_total") - before == 10
    assert _metric("failstream_producer_spool_events") == 0


def test_a_brokers_down_report_the_broker_contradicts_is_not_an_outage(
    settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """librdkafka can report "0/1 brokers are down" just as a broker returns: the sink asks first."""
    sink = KafkaSink(settings.model_copy(update={"producer_spool_dir": tmp_path / "spool"}))
    sink.start()
    caplog.set_level(logging.WARNING, logger="failstream.producer")
    try:
        sink._errors(KafkaError(KafkaError._ALL_BROKERS_DOWN, "0/1 brokers are down"))
        assert sink.kafka.up  # not taken at its word
        wait_until(lambda: sink._suspected_down is None, 10, "the sink's thread to take up the report")
        sink.send(settings.topic_failed_requests, b"k", b"{}")
        assert sink.flush(10) == 0
        assert sink.kafka.up and sink.kafka.changes == 0
        assert not [r for r in caplog.records if "is down" in r.getMessage()]
    finally:
        sink.close(5)

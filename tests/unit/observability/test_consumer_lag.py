"""Consumer lag arithmetic and its exposition."""

from __future__ import annotations

import socket

import pytest
from confluent_kafka import KafkaException
from prometheus_client import CollectorRegistry, generate_latest

from failstream.metrics.consumer_lag import ConsumerLagCollector, ConsumerLagReader, partition_lag
from failstream.settings import Settings


def test_lag_is_end_offset_minus_committed_offset() -> None:
    assert partition_lag(low=0, high=120, committed=100) == 20
    assert partition_lag(low=0, high=120, committed=120) == 0


def test_a_group_without_a_commit_lags_by_every_retained_message() -> None:
    assert partition_lag(low=30, high=120, committed=-1001) == 90  # librdkafka's OFFSET_INVALID


def test_a_commit_below_the_retention_floor_counts_from_the_floor() -> None:
    assert partition_lag(low=50, high=120, committed=10) == 70


def test_lag_is_never_negative_when_the_end_offset_was_read_before_the_commit() -> None:
    assert partition_lag(low=0, high=100, committed=105) == 0


def test_collector_reports_the_last_reading_per_group_topic_and_partition() -> None:
    registry = CollectorRegistry()
    collector = ConsumerLagCollector("failstream-stream")
    registry.register(collector)
    collector.update({("failed-requests", 0): 7, ("failed-requests", 1): 0})
    text = generate_latest(registry).decode()
    assert (
        'failstream_kafka_consumer_lag{group="failstream-stream",partition="0",topic="failed-requests"} 7.0'
        in text
    )
    collector.update({("failed-requests", 1): 3})  # partition 0 no longer read: no stale series
    text = generate_latest(registry).decode()
    assert 'partition="0"' not in text and 'partition="1",topic="failed-requests"} 3.0' in text


def test_a_lag_reader_with_no_broker_fails_its_read_without_librdkafka_lines_on_stderr(
    capfd: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as s:  # a loopback port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = Settings(_env_file=None, kafka_bootstrap_servers=f"127.0.0.1:{port}")  # type: ignore[call-arg]
    reader = ConsumerLagReader(settings, "lag-test", ["failed-requests"])
    try:
        with pytest.raises(KafkaException):
            reader.read()
    finally:
        reader.close()
    assert "rdkafka" not in capfd.readouterr().err

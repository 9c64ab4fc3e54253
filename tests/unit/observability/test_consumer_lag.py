"""Consumer lag arithmetic and its exposition."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from failstream.metrics.consumer_lag import ConsumerLagCollector, partition_lag


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

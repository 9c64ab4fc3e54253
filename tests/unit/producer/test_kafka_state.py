"""Kafka down and back: one line and one gauge change per change of state, not per connection attempt."""

from __future__ import annotations

import logging

import pytest
from confluent_kafka import KafkaError
from prometheus_client import REGISTRY

from failstream.producer.kafka_errors import KafkaErrorLog
from failstream.producer.kafka_state import KafkaReachability
from failstream.producer.metrics import SinkMetricsPublisher
from failstream.settings import Settings


def test_down_and_back_are_each_said_once_per_outage(caplog: pytest.LogCaptureFixture) -> None:
    now = [100.0]
    kafka = KafkaReachability("127.0.0.1:9092", clock=lambda: now[0])
    caplog.set_level(logging.WARNING, logger="failstream.producer")
    assert kafka.back(0) is False  # up from the start: nothing to say
    assert kafka.down("1/1 brokers are down") is True
    assert kafka.down("1/1 brokers are down") is False
    now[0] = 112.5
    assert kafka.back(42) is True
    assert kafka.back(0) is False
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert "is down (1/1 brokers are down)" in lines[0]
    assert "is back after 12.5 s" in lines[1] and "42 events" in lines[1]
    assert kafka.up and kafka.changes == 2


def test_every_brokers_down_report_marks_kafka_down_and_logs_no_line_of_its_own(
    unit_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    kafka = KafkaReachability("b:9092")
    errors = KafkaErrorLog(unit_settings, on_unreachable=kafka.down)
    caplog.set_level(logging.WARNING, logger="failstream.producer")
    for _ in range(10):
        errors(KafkaError(KafkaError._TRANSPORT, "Connect to ipv4#127.0.0.1:9092 failed: Connection refused"))
        errors(KafkaError(KafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down"))
    assert not kafka.up
    assert [r.getMessage() for r in caplog.records] == [
        "Kafka at b:9092 is down (1/1 brokers are down): events are kept and sent when it is back"
    ]


def test_a_tls_failure_is_still_explained_when_kafka_down_is_tracked(
    unit_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    errors = KafkaErrorLog(unit_settings, on_unreachable=KafkaReachability("b:9093").down)
    caplog.set_level(logging.WARNING, logger="failstream.producer")
    errors(KafkaError(KafkaError._TRANSPORT, "SSL handshake failed: certificate verify failed"))
    assert any("TLS handshake failed" in r.getMessage() for r in caplog.records)


def test_a_sinks_report_of_kafka_down_sets_the_hosts_gauge() -> None:
    publisher = SinkMetricsPublisher()
    publisher.publish({"kafka_up": 0})
    assert REGISTRY.get_sample_value("failstream_producer_kafka_up") == 0
    publisher.publish({"kafka_up": 1})
    assert REGISTRY.get_sample_value("failstream_producer_kafka_up") == 1

from __future__ import annotations

import logging

import pytest
from confluent_kafka import KafkaError

from failstream.producer.kafka_errors import KafkaErrorLog, explain

VERIFY_FAILED = (
    "ssl://127.0.0.1:9093/bootstrap: SSL handshake failed: error:0A000086:SSL routines::"
    "certificate verify failed (after 5ms in state SSL_HANDSHAKE)"
)


def test_a_certificate_verify_failure_names_the_ca_setting(unit_settings) -> None:
    level, line = explain(KafkaError(KafkaError._SSL, VERIFY_FAILED), unit_settings)
    assert level == logging.ERROR
    assert line.startswith("Kafka TLS handshake failed: the broker's certificate is not signed by the CA")
    assert "FAILSTREAM_KAFKA_SSL_CAFILE" in line


def test_sasl_failures_name_the_credentials_settings(unit_settings) -> None:
    level, line = explain(KafkaError(KafkaError._AUTHENTICATION, "SASL SCRAM failed"), unit_settings)
    assert level == logging.ERROR and "FAILSTREAM_KAFKA_SASL_MECHANISM" in line


def test_a_down_broker_is_a_warning_not_an_error(unit_settings) -> None:
    level, line = explain(KafkaError(KafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down"), unit_settings)
    assert level == logging.WARNING and "unreachable" in line


def test_the_same_problem_is_logged_once_not_per_connection_attempt(
    unit_settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="failstream.producer")
    errors = KafkaErrorLog(unit_settings)
    for attempt in range(20):
        errors(KafkaError(KafkaError._SSL, VERIFY_FAILED.replace("5ms", f"{attempt}ms")))
        errors(KafkaError(KafkaError._TRANSPORT, VERIFY_FAILED))
        errors(KafkaError(KafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down"))
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(loud) == 1 and "TLS" in loud[0].getMessage()


def test_after_a_reset_the_next_problem_is_news_again(
    unit_settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="failstream.producer")
    errors = KafkaErrorLog(unit_settings)
    errors(KafkaError(KafkaError._TRANSPORT, "connection refused"))
    errors.reset()
    errors(KafkaError(KafkaError._TRANSPORT, "connection refused"))
    assert len(caplog.records) == 2

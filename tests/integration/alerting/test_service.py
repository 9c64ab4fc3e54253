"""The alerting process around the pipeline: bad input, shutdown and Kafka offsets."""

from __future__ import annotations

import signal
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from failstream.alerting.service import consumer_group
from failstream.kafka_config import confluent_config
from failstream.settings import Settings
from tests.integration.alerting.harness import Mongo, make_alert, produce_alerts
from tests.integration.services import ProcessGroup, SmtpSink, wait_until

pytestmark = pytest.mark.integration


def _committed_total(settings: Settings) -> int:
    consumer = Consumer({**confluent_config(settings), "group.id": consumer_group(settings)})
    try:
        parts = [TopicPartition(settings.topic_alerts, p) for p in range(settings.kafka_partitions)]
        return sum(max(tp.offset, 0) for tp in consumer.committed(parts, timeout=10))
    finally:
        consumer.close()


def test_malformed_alert_is_dead_lettered_and_the_next_one_still_sent(
    alerting_settings: Settings, smtp_sink: SmtpSink, processes: ProcessGroup, mongo: Mongo
) -> None:
    processes.start("alerting", "alerting", alerting_settings)
    producer = Producer(confluent_config(alerting_settings))
    producer.produce(alerting_settings.topic_alerts, key=b"127.0.4.1", value=b"{not json")
    producer.flush(10)
    produce_alerts(alerting_settings, [make_alert("127.0.4.1")])

    wait_until(lambda: len(smtp_sink.messages()) == 1, 30, "the good alert's email")
    letter = mongo.db.dead_letters.find_one({"source_topic": alerting_settings.topic_alerts})
    assert letter is not None and letter.get("email_id") is None and "json" in letter["error"].lower()
    wait_until(lambda: _committed_total(alerting_settings) == 2, 15, "both offsets committed")
    assert processes.procs["alerting"].poll() is None


def test_sigterm_sends_the_waiting_digest_instead_of_leaving_it_to_a_lease(
    alerting_settings: Settings, smtp_sink: SmtpSink, processes: ProcessGroup, mongo: Mongo
) -> None:
    settings = alerting_settings.model_copy(update={"group_wait_s": 120.0, "fence_lease_s": 300.0})
    alerts = [make_alert("127.0.5.1"), make_alert("127.0.5.2")]
    processes.start("alerting", "alerting", settings)
    produce_alerts(settings, alerts)
    wait_until(
        lambda: all((mongo.alert(a.alert_key) or {}).get("status") == "grouped" for a in alerts),
        30,
        "both alerts waiting in a group",
    )
    assert smtp_sink.messages() == [] and _committed_total(settings) == 0  # not handled yet: not committed

    started = time.monotonic()
    processes.procs["alerting"].send_signal(signal.SIGTERM)
    processes.procs["alerting"].wait(timeout=30)
    assert time.monotonic() - started < 20
    [digest] = smtp_sink.messages()
    assert "127.0.5.1" in digest["Subject"] and "127.0.5.2" in digest["Subject"]
    assert _committed_total(settings) == 2

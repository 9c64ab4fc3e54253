"""Address rotation on the real broker: one /64 alerts as the prefix, distinct /64s do not.

Failures go onto ``failed-requests`` keyed by IP, as the producer sends
them, so the addresses of one /64 land on every partition; the worker must
bring them together through its repartition topic. "Does not alert" is
checked once the worker has committed every forwarded record (it commits
only after the record's alerts are acknowledged by the broker), and "once"
once the alerting process has committed the alert it emailed.
"""

from __future__ import annotations

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from failstream.alerting.service import consumer_group
from failstream.events import new_event_id, now_ms
from failstream.kafka_config import confluent_config
from failstream.settings import Settings
from failstream.stream_app.detection.prefix_forward import read_record, repartition_topic
from tests.integration.services import ProcessGroup, SmtpSink, wait_until
from tests.integration.stream_app.checks import alerts_on_topic
from tests.integration.stream_app.kafka_io import failure_json, produce, read_all

pytestmark = pytest.mark.integration

ROTATED = [f"2001:db8:1:2:{i:x}:{i * 7:x}::1" for i in range(1, 13)]  # 12 addresses of one /64
SPREAD = [f"2001:db8:2:{i:x}::1" for i in range(1, 13)]  # the same traffic, one address per /64


def committed_to_the_end(settings: Settings, topic: str, group: str) -> bool:
    """Has ``group`` committed every partition of ``topic`` up to its end (and is there anything)?"""
    consumer = Consumer({**confluent_config(settings), "group.id": group})
    try:
        meta = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if meta is None or meta.error is not None:
            return False
        parts = [TopicPartition(topic, p) for p in meta.partitions]
        ends = {tp.partition: consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in parts}
        done = {tp.partition: tp.offset for tp in consumer.committed(parts, timeout=10)}
        return sum(ends.values()) > 0 and all(done[p] >= end for p, end in ends.items() if end > 0)
    finally:
        consumer.close()


def forwarded(settings: Settings) -> int:
    """How many failures the worker has forwarded to its repartition topic (0 before it made it)."""
    topic = repartition_topic(settings)
    if topic not in AdminClient(confluent_config(settings)).list_topics(timeout=10).topics:
        return 0  # asked by name, an absent topic could be auto-created with the broker's defaults
    return sum(
        len(failures) for _, value in read_all(settings, topic) for _, _, failures in read_record(value)
    )


def test_rotation_inside_one_64_alerts_once_as_the_prefix_and_the_same_traffic_over_64s_does_not(
    settings: Settings, processes: ProcessGroup, smtp_sink: SmtpSink
) -> None:
    settings = settings.model_copy(update={"smtp_port": smtp_sink.port, "group_wait_s": 0.0})
    processes.start("stream", "stream", settings)
    processes.start("alerting", "alerting", settings)
    ts = now_ms()
    failures = [
        (ip.encode(), failure_json(new_event_id(), ip, ts + i * 100))
        for i, ip in enumerate(x for pair in zip(ROTATED, SPREAD, strict=True) for x in pair)
    ]
    produce(settings, settings.topic_failed_requests, failures)
    topic = repartition_topic(settings)

    wait_until(
        lambda: forwarded(settings) == len(failures),
        90,
        f"{len(failures)} failures forwarded by prefix",
        interval_s=1,
    )
    wait_until(
        lambda: committed_to_the_end(settings, topic, settings.stream_app_id),
        60,
        "every forwarded record processed and committed",
        interval_s=1,
    )
    alerts = alerts_on_topic(settings)
    threshold = settings.rule_prefix_threshold
    assert [(a.rule, a.subject, a.state, a.count) for a in alerts] == [
        ("prefix-failures", "2001:db8:1:2::/64", "firing", threshold)
    ]

    wait_until(
        lambda: committed_to_the_end(settings, settings.topic_alerts, consumer_group(settings)),
        60,
        "the alert handled by the alerting process",
        interval_s=1,
    )
    [email] = smtp_sink.messages()
    subject = " ".join(str(email["Subject"]).split())  # a long header is folded
    assert subject == f"[Failstream] prefix-failures: 2001:db8:1:2::/64 had {threshold} failures in 600s"

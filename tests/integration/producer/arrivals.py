"""When events reach the broker: the broker's own append time, read by a consumer assigned up front."""

from __future__ import annotations

import time
import uuid

import orjson
from confluent_kafka import TIMESTAMP_LOG_APPEND_TIME, Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

from failstream.kafka_config import confluent_config
from failstream.settings import Settings


def stamp_on_arrival(settings: Settings, topic: str) -> None:
    """Make the broker stamp each record of ``topic`` with the time it appended it (LogAppendTime).

    The producer's own timestamp says when the relay handed the event to
    librdkafka, not when Kafka had it; the append time does.
    """
    admin = AdminClient(confluent_config(settings))
    entry = ConfigEntry(
        "message.timestamp.type", "LogAppendTime", incremental_operation=AlterConfigOpType.SET
    )
    resource = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[entry])
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(30)


def arrivals(settings: Settings, topic: str, expect: int, timeout_s: float = 30.0) -> list[tuple[int, dict]]:
    """(broker append time in ms, event) of the first ``expect`` records on ``topic``, in append order."""
    consumer = Consumer(
        {
            **confluent_config(settings),
            "group.id": f"t-arrivals-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
        }
    )
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        found: list[tuple[int, dict]] = []
        deadline = time.monotonic() + timeout_s
        while len(found) < expect and time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is None or message.error() is not None:
                continue
            kind, ms = message.timestamp()
            assert kind == TIMESTAMP_LOG_APPEND_TIME, "the topic does not stamp arrivals"
            found.append((ms, orjson.loads(message.value() or b"{}")))
        return sorted(found, key=lambda item: item[0])
    finally:
        consumer.close()

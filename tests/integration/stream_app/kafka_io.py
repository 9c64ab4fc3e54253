"""Produce to and read back from the real broker, the way the producer and readers do."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from failstream.events import failed_request_json
from failstream.kafka_config import confluent_config
from failstream.settings import Settings


def failure_json(event_id: str, ip: str, ts: int, method: str = "POST", route: str = "/api/submit") -> bytes:
    return failed_request_json(
        event_id=event_id,
        ts=ts,
        service="demo",
        ip=ip,
        method=method,
        route=route,
        status=401,
        reason="invalid_token",
        user_agent="pytest",
        request_id="",
    )


def produce(settings: Settings, topic: str, messages: Iterable[tuple[bytes | None, bytes]]) -> int:
    """Send keyed messages with the producer sink's partitioner; return how many."""
    producer = Producer({**confluent_config(settings), "partitioner": "murmur2_random", "linger.ms": 5})
    n = 0
    for key, value in messages:
        while True:
            try:
                producer.produce(topic, key=key, value=value)
                break
            except BufferError:
                producer.poll(0.1)
        n += 1
        if n % 10_000 == 0:
            producer.poll(0)
    assert producer.flush(30) == 0, "messages left unsent"
    return n


def read_all(settings: Settings, topic: str, timeout_s: float = 20.0) -> list[tuple[bytes | None, bytes]]:
    """Every committed message on ``topic`` right now, from the start of each partition."""
    consumer = Consumer(
        {
            **confluent_config(settings),
            "group.id": f"reader-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    try:
        ends = _ends(consumer, topic, timeout_s)
        consumer.assign([TopicPartition(topic, p, 0) for p in ends])
        out: list[tuple[bytes | None, bytes]] = []
        deadline = time.monotonic() + timeout_s

        def behind() -> bool:
            done = consumer.position([TopicPartition(topic, p) for p in ends])
            return any(tp.offset < ends[tp.partition] for tp in done)

        while ends and behind():
            assert time.monotonic() < deadline, f"could not read {topic} to its end"
            msg = consumer.poll(0.2)
            if msg is not None and not msg.error():
                out.append((msg.key(), msg.value() or b""))
        return out
    finally:
        consumer.close()


#: What a topic the worker has just created answers until its partitions have a leader.
_NOT_YET = (
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
)


def _ends(consumer: Consumer, topic: str, timeout_s: float) -> dict[int, int]:
    """Each non-empty partition's end offset, asked again while the topic's leaders are elected."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
            ends = {}
            for p in partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
                if high > low:
                    ends[p] = high
            return ends
        except KafkaException as exc:
            if exc.args[0].code() not in _NOT_YET or time.monotonic() >= deadline:
                raise
            time.sleep(0.2)

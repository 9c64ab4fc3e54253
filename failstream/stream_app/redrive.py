"""Re-publish dead letters to the topic they came from, once each."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

from confluent_kafka import KafkaError, Message, Producer
from pymongo import MongoClient

from failstream.events import now_ms
from failstream.kafka_config import confluent_config
from failstream.settings import StreamSettings


def pending(db: Any, topic: str | None, limit: int) -> Iterator[dict[str, Any]]:
    query: dict[str, Any] = {"redriven_at": {"$exists": False}}
    if topic:
        query["source_topic"] = topic
    return iter(db.dead_letters.find(query).sort("_id", 1).limit(limit))


def redrive(settings: StreamSettings, *, topic: str | None = None, limit: int = 0) -> tuple[int, int]:
    """Produce each not-yet-redriven letter's original key and bytes; return (sent, failed).

    A letter is marked ``redriven_at`` only after the broker acknowledged it,
    so a failed run can simply be repeated.
    """
    client: MongoClient[dict[str, Any]] = MongoClient(settings.mongo_uri.get_secret_value())
    producer = Producer({**confluent_config(settings), "partitioner": "murmur2_random", "acks": "all"})
    delivered: list[str] = []
    failed: list[str] = []

    def on_delivery(letter_id: str) -> Any:
        def report(err: KafkaError | None, _msg: Message) -> None:
            (failed if err is not None else delivered).append(letter_id)

        return report

    try:
        db = client[settings.mongo_db]
        for doc in pending(db, topic, limit):
            key = base64.b64decode(doc["key_b64"]) if doc.get("key_b64") is not None else None
            producer.produce(
                doc["source_topic"],
                key=key,
                value=base64.b64decode(doc["value_b64"]),
                on_delivery=on_delivery(doc["_id"]),
            )
            producer.poll(0)
        producer.flush(30)
        if delivered:
            db.dead_letters.update_many({"_id": {"$in": delivered}}, {"$set": {"redriven_at": now_ms()}})
        return len(delivered), len(failed)
    finally:
        client.close()

"""Many changed keys into a Faust table and its changelog in one pass.

A write through the table's mapping API costs, per key, a FutureMessage, a
PendingMessage in Faust's producer buffer, a task hop and an aiokafka send;
while that buffer holds more than 100 records, Faust's conductor stops
delivering messages (its back-pressure), so a flush of thousands of states
stalled ingestion for most of a second. Here each key goes to the table's
store, and its changelog record (the same bytes, key and partition Faust
would write) into one record batch per partition, handed to the worker's own
aiokafka producer; the write returns once the broker acknowledged every
batch (a failed one is sent again), so the messages acked after it are
covered by their changelog.
"""

from __future__ import annotations

from collections.abc import Awaitable
from functools import partial
from typing import Any

from aiokafka.partitioner import murmur2

from failstream.dependency import Dependency
from failstream.stream_app.faust_internals import aiokafka_producer, key_partitions
from failstream.stream_app.kafka_writes import until_acknowledged

#: Changelog records (key, value; None deletes) of one partition, in order.
Records = list[tuple[bytes, bytes | None]]


def changelog_partition(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner picks for ``key`` (the table's ``use_partitioner``)."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


async def write_table(app: Any, table: Any, changes: dict[bytes, bytes | None], kafka: Dependency) -> None:
    """Store each value (None deletes the key); return once its changelog record is acknowledged."""
    if not changes:
        return
    store = table.data
    topic = table.changelog_topic_name
    producer = aiokafka_producer(app)
    partitions = table.partitions
    # without this a worker kept (and swept) keys it had handed over in a rebalance
    key_partition = key_partitions(store)
    records: dict[int, Records] = {}
    for key, raw in changes.items():
        partition = changelog_partition(key, partitions)
        if raw is None:
            store.pop(key, None)
            if key_partition is not None:
                key_partition.pop(key, None)
        else:
            store[key] = raw
            if key_partition is not None:
                key_partition[key] = partition
        records.setdefault(partition, []).append((key, raw))
    sends = [
        partial(_send_batch, producer, topic, partition, chunk)
        for partition, recs in records.items()
        for chunk in _chunks(producer, recs)
    ]
    await until_acknowledged(sends, kafka)


def _chunks(producer: Any, records: Records) -> list[Records]:
    """The records split where a record batch is full (each chunk is one batch, resent whole)."""
    chunks: list[Records] = [[]]
    batch = producer.create_batch()
    for key, raw in records:
        if batch.append(key=key, value=raw, timestamp=None) is None:
            batch = producer.create_batch()
            batch.append(key=key, value=raw, timestamp=None)
            chunks.append([])
        chunks[-1].append((key, raw))
    return chunks


async def _send_batch(producer: Any, topic: str, partition: int, records: Records) -> Awaitable[object]:
    batch = producer.create_batch()
    for key, raw in records:
        batch.append(key=key, value=raw, timestamp=None)
    ack: Awaitable[object] = await producer.send_batch(batch, topic, partition=partition)
    return ack

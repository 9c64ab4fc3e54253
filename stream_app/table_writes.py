"""Many changed keys into a Faust table and its changelog in one pass.

A write through the table's mapping API costs, per key, a FutureMessage, a
PendingMessage in Faust's producer buffer, a task hop and an aiokafka send;
while that buffer holds more than 100 records, Faust's conductor stops
delivering messages (its back-pressure), so a flush of thousands of states
stalled ingestion for most of a second. Here each key goes to the table's
store, and its changelog record (the same bytes, key and partition Faust
would write) into one record batch per partition, handed to the worker's own
aiokafka producer. Faust flushes that producer before every offset commit,
as it does for its own changelog records.
"""

from __future__ import annotations

from typing import Any

from aiokafka.partitioner import murmur2


def changelog_partition(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner picks for ``key`` (the table's ``use_partitioner``)."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


async def write_table(app: Any, table: Any, changes: dict[bytes, bytes | None]) -> None:
    """Store each value (None deletes the key) and send it to the table's changelog topic."""
    if not changes:
        return
    store = table.data
    topic = table.changelog_topic_name
    producer = app.producer._ensure_producer()  # the aiokafka producer under Faust's
    partitions = table.partitions
    # Faust's memory store drops the keys of partitions no longer assigned once a
    # rebalance's recovery completes, but knows the partition only of keys it
    # recovered; without this a worker kept (and swept) keys it had handed over
    key_partition: dict[bytes, int] | None = getattr(store, "_key_partition", None)
    batches: dict[int, Any] = {}
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
        batch = batches.get(partition)
        if batch is None:
            batch = batches[partition] = producer.create_batch()
        if batch.append(key=key, value=raw, timestamp=None) is None:  # full: send it, start another
            await producer.send_batch(batch, topic, partition=partition)
            batch = batches[partition] = producer.create_batch()
            batch.append(key=key, value=raw, timestamp=None)
    for partition, batch in batches.items():
        await producer.send_batch(batch, topic, partition=partition)

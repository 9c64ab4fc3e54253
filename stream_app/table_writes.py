"""Many changed keys into a Faust table and its changelog in one pass.

A write through the table's mapping API costs, per key, a FutureMessage, a
PendingMessage in Faust's producer buffer and a task hop before aiokafka
sees it; while that buffer holds more than 100 records, Faust's conductor
stops delivering messages (its back-pressure), so a flush of thousands of
states stalled ingestion for most of a second. Here each key goes to the
table's store and, as the same record Faust would write, straight to the
producer; Faust flushes that producer before every offset commit, as for
its own changelog records.
"""

from __future__ import annotations

from typing import Any


async def write_table(app: Any, table: Any, changes: dict[bytes, bytes | None]) -> None:
    """Store each value (None deletes the key) and send it to the changelog topic."""
    store = table.data
    topic = table.changelog_topic_name
    send = app.producer.send
    for key, raw in changes.items():
        if raw is None:
            store.pop(key, None)
        else:
            store[key] = raw
        # partition None: the producer's murmur2 partitioner, as the table's use_partitioner does
        await send(topic, key, raw, None, None, None)

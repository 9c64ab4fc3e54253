"""Connection and indexes (created at start-up; the server has no TTL, see retention)."""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from failstream.settings import StreamSettings

Db = AsyncDatabase[dict[str, Any]]


def connect(settings: StreamSettings) -> Db:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        settings.mongo_uri.get_secret_value(), serverSelectionTimeoutMS=10_000
    )
    return client[settings.mongo_db]


async def ensure_indexes(db: Db) -> None:
    await db.failures.create_index([("ts", 1), ("_id", 1)])
    await db.failures.create_index([("ip", 1), ("ts", -1)])
    # pages of failures, read second by second, or tenth by tenth in a busy second
    await db.failures.create_index([("second", 1)])
    await db.failures.create_index([("tenth", 1)])
    await db.minute_counts.create_index([("minute", 1)])
    await db.ip_stats.create_index([("last_seen", -1)])
    await db.dead_letters.create_index([("source_topic", 1), ("ts", 1)])
    await db.email_event_ids.create_index([("ts", 1)])  # the retention sweep's range

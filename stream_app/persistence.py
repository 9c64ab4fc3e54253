"""Idempotent MongoDB writes for the stream worker (PyMongo's native async API)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from pymongo import AsyncMongoClient, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from failstream.settings import Settings
from producer.events import FailedRequest


def connect(settings: Settings) -> AsyncDatabase[dict[str, Any]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        settings.mongo_uri.get_secret_value(), tz_aware=True, serverSelectionTimeoutMS=10_000
    )
    return client[settings.mongo_db]


async def ensure_indexes(db: AsyncDatabase[dict[str, Any]]) -> None:
    await db.failures.create_index([("ts", 1), ("_id", 1)])
    await db.failures.create_index([("ip", 1), ("ts", -1)])
    await db.minute_counts.create_index([("minute", 1)])


async def persist_failures(db: AsyncDatabase[dict[str, Any]], events: list[FailedRequest]) -> int:
    """Insert raw failures (``_id`` = event_id), then count only the new ones.

    Returns how many events were new. A replay inserts nothing new, so it
    increments nothing.
    """
    if not events:
        return 0
    docs = [{"_id": e.event_id, **e.model_dump(exclude={"event_id"})} for e in events]
    duplicate_ids: set[str] = set()
    try:
        await db.failures.insert_many(docs, ordered=False)
    except BulkWriteError as exc:
        for error in exc.details.get("writeErrors", []):
            if error.get("code") != 11000:
                raise
            duplicate_ids.add(docs[error["index"]]["_id"])
    new = [e for e in events if e.event_id not in duplicate_ids]
    per_ip: dict[str, dict[str, Any]] = defaultdict(lambda: {"total": 0, "reasons": defaultdict(int)})
    for e in new:
        stats = per_ip[e.ip]
        stats["total"] += 1
        stats["reasons"][e.reason] += 1
        stats["first"] = min(stats.get("first", e.ts), e.ts)
        stats["last"] = max(stats.get("last", e.ts), e.ts)
    ops = [
        UpdateOne(
            {"_id": ip},
            {
                "$inc": {"total": s["total"], **{f"reasons.{r}": n for r, n in s["reasons"].items()}},
                "$min": {"first_seen": s["first"]},
                "$max": {"last_seen": s["last"]},
            },
            upsert=True,
        )
        for ip, s in per_ip.items()
    ]
    if ops:
        await db.ip_stats.bulk_write(ops, ordered=False)
    return len(new)

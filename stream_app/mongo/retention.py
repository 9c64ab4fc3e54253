"""Retention sweep for raw failures: FerretDB has no TTL indexes, so we delete by time."""

from __future__ import annotations

from stream_app.mongo.client import Db

DAY_MS = 86_400_000


async def sweep_failures(db: Db, now_ms: int, retention_days: int) -> int:
    result = await db.failures.delete_many({"ts": {"$lt": now_ms - retention_days * DAY_MS}})
    return int(result.deleted_count)

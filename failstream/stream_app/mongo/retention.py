"""Retention sweeps: FerretDB 1.24 has no TTL indexes, so old documents are deleted by time.

One ranged ``delete_many`` per collection (by an indexed time field where
the collection is large), run every ``stream_retention_sweep_s`` by the
persister. Defaults (docs/mongodb.md): raw ``failures`` 30 days by ``ts``;
``minute_counts`` 91 days by ``minute`` (the API's longest window is 90d);
``ip_stats`` 30 days by ``last_seen`` (an address not seen for that long is
forgotten, so rotating addresses cannot grow it without bound);
``dead_letters`` 30 days by ``ts``; ``email_event_ids`` by ``ts`` as long as
``minute_counts`` (an id guards the counts of its minute, so it lives as long).
"""

from __future__ import annotations

from failstream.settings import StreamSettings
from failstream.stream_app.mongo.client import Db

DAY_MS = 86_400_000


async def sweep_failures(db: Db, now_ms: int, retention_days: int) -> int:
    result = await db.failures.delete_many({"ts": {"$lt": now_ms - retention_days * DAY_MS}})
    return int(result.deleted_count)


async def sweep_minute_counts(db: Db, now_ms: int, retention_days: int) -> int:
    result = await db.minute_counts.delete_many({"minute": {"$lt": now_ms - retention_days * DAY_MS}})
    return int(result.deleted_count)


async def sweep_ip_stats(db: Db, now_ms: int, retention_days: int) -> int:
    result = await db.ip_stats.delete_many({"last_seen": {"$lt": now_ms - retention_days * DAY_MS}})
    return int(result.deleted_count)


async def sweep_dead_letters(db: Db, now_ms: int, retention_days: int) -> int:
    result = await db.dead_letters.delete_many({"ts": {"$lt": now_ms - retention_days * DAY_MS}})
    return int(result.deleted_count)


async def sweep_email_event_ids(db: Db, now_ms: int, retention_days: int) -> int:
    result = await db.email_event_ids.delete_many({"ts": {"$lt": now_ms - retention_days * DAY_MS}})
    return int(result.deleted_count)


async def sweep_all(db: Db, now_ms: int, settings: StreamSettings) -> dict[str, int]:
    """Each swept collection's deleted count, in one pass (safe to repeat after a failure)."""
    return {
        "failures": await sweep_failures(db, now_ms, settings.failures_retention_days),
        "minute_counts": await sweep_minute_counts(db, now_ms, settings.minute_counts_retention_days),
        "ip_stats": await sweep_ip_stats(db, now_ms, settings.ip_stats_retention_days),
        "dead_letters": await sweep_dead_letters(db, now_ms, settings.dead_letters_retention_days),
        "email_event_ids": await sweep_email_event_ids(db, now_ms, settings.minute_counts_retention_days),
    }

"""Today's email counts, "today" being the calendar day in ``settings.report_timezone``.

The day boundaries are computed in that zone (DST included) and turned into
epoch ms, so the counts are plain range queries on the stored integers.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pymongo.asynchronous.database import AsyncDatabase

from failstream.api.models import EmailDay


def day_bounds(now_ms: int, tz: ZoneInfo) -> tuple[int, int]:
    """[start, end) in epoch ms of the local day that contains ``now_ms``."""
    local = datetime.fromtimestamp(now_ms / 1000, tz)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    end = start + timedelta(days=1)  # aware + timedelta is wall-clock: next local midnight, DST or not
    return int(start.timestamp() * 1000), int(end.timestamp() * 1000)


async def today(db: AsyncDatabase[dict[str, Any]], tz_name: str, now_ms: int) -> EmailDay:
    start, end = day_bounds(now_ms, ZoneInfo(tz_name))
    created = await db.emails.count_documents({"created_at": {"$gte": start, "$lt": end}})
    sent = await db.emails.count_documents({"status": "SENT", "sent_at": {"$gte": start, "$lt": end}})
    failed = await db.emails.count_documents({"status": "FAILED", "updated_at": {"$gte": start, "$lt": end}})
    return EmailDay(timezone=tz_name, day_start=start, created=created, sent=sent, failed=failed)

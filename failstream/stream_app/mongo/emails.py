"""Per-minute email counts (``minute_counts`` with source ``emails``), exact under replay and re-sends.

As raw failures go into ``failures``, each email event's id goes into
``email_event_ids`` (``_id`` = event_id, with the partition and offset it was
read from) before it is counted. A duplicate id stored from another offset is
a re-published copy of a counted event and counts for nothing; one stored from
this very message is its redelivery after a crash, whose increments may still
be missing, and goes on to the guarded counters, which apply each offset once.
Ids are kept as long as the minute counts they guard.
"""

from __future__ import annotations

import asyncio
from typing import Any

from failstream.events import EmailEvent
from failstream.stream_app.mongo import guarded_counts
from failstream.stream_app.mongo.client import Db
from failstream.stream_app.mongo.failures import first_placed, minute_doc_id, minute_of, minute_skeletons
from failstream.stream_app.mongo.guarded_counts import Contribution, Delta, field_name

SOURCE = "emails"
EmailRead = tuple[EmailEvent, int, int]  # the event, its partition and offset


def email_contribution(event: EmailEvent, partition: int, offset: int) -> Contribution:
    delta = Delta()
    delta.count("total")
    delta.count(f"emails.{event.status}")
    delta.count(f"services.{field_name(event.service)}")
    return Contribution(minute_doc_id(minute_of(event.ts), SOURCE, partition), partition, offset, delta)


async def first_copies(db: Db, reads: list[EmailRead]) -> list[EmailRead]:
    """Record the events' ids; return the reads that are no copy of an event read at another offset."""
    docs: list[dict[str, Any]] = [
        {"_id": e.event_id, "ts": e.ts, "partition": p, "offset": o} for e, p, o in reads
    ]
    due = await first_placed(db.email_event_ids, docs, asyncio.Semaphore(guarded_counts.IN_FLIGHT))
    return [read for read, ok in zip(reads, due, strict=True) if ok]


async def persist_email_counts(db: Db, reads: list[EmailRead]) -> None:
    if not reads:
        return
    contributions = [email_contribution(e, p, o) for e, p, o in await first_copies(db, reads)]
    skeleton = minute_skeletons(contributions, SOURCE)
    await guarded_counts.apply(db.minute_counts, contributions, skeleton=skeleton)

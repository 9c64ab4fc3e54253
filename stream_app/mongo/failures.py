"""Raw failures and their counters (``ip_stats``, ``minute_counts``), exact under replay.

The insert into ``failures`` (``_id`` = event_id) tells a new event from a
duplicate. A duplicate whose stored (partition, offset) is the message being
processed is a redelivery of the same message, whose increments may still
be missing after a crash: it goes on to the guarded counters, which apply
each message's increments once. A duplicate from another offset is the
producer's re-send of an event already counted: it counts for nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pymongo.errors import BulkWriteError

from producer.events import FailedRequest
from stream_app.mongo import guarded_counts
from stream_app.mongo.client import Db
from stream_app.mongo.guarded_counts import Contribution, Delta, field_name

MINUTE_MS = 60_000
SOURCE = "failures"


@dataclass(frozen=True)
class Read:
    """An event with the place it was read from."""

    event: FailedRequest
    partition: int
    offset: int


@dataclass(frozen=True)
class MinuteTotal:
    minute: int
    before: int
    after: int


def minute_of(ts: int) -> int:
    return ts - ts % MINUTE_MS


def minute_doc_id(minute: int, source: str) -> str:
    return f"{minute}:{source}"


async def countable(db: Db, reads: list[Read]) -> list[Read]:
    """Insert the raw events; return those whose increments may be due."""
    docs = [
        {
            "_id": r.event.event_id,
            **r.event.model_dump(exclude={"event_id", "v"}),
            "partition": r.partition,
            "offset": r.offset,
        }
        for r in reads
    ]
    duplicates: set[int] = set()
    try:
        await db.failures.insert_many(docs, ordered=False)
    except BulkWriteError as exc:
        for error in exc.details.get("writeErrors", []):
            if error.get("code") != 11000:
                raise
            duplicates.add(error["index"])
    if not duplicates:
        return reads
    stored = {
        d["_id"]: (d.get("partition"), d.get("offset"))
        async for d in db.failures.find(
            {"_id": {"$in": [docs[i]["_id"] for i in duplicates]}}, {"partition": 1, "offset": 1}
        )
    }
    return [
        r
        for i, r in enumerate(reads)
        if i not in duplicates or stored.get(r.event.event_id) == (r.partition, r.offset)
    ]


def _labels(delta: Delta, e: FailedRequest) -> None:
    delta.count("total")
    delta.count(f"reasons.{e.reason}")
    delta.count(f"statuses.{e.status}")
    delta.count(f"services.{field_name(e.service)}")


def ip_contribution(r: Read) -> Contribution:
    delta = Delta()
    _labels(delta, r.event)
    delta.count(f"routes.{field_name(r.event.method + ' ' + r.event.route)}")
    delta.low("first_seen", r.event.ts)
    delta.high("last_seen", r.event.ts)
    return Contribution(r.event.ip, r.partition, r.offset, delta)


def minute_contribution(r: Read) -> Contribution:
    delta = Delta()
    _labels(delta, r.event)
    return Contribution(minute_doc_id(minute_of(r.event.ts), SOURCE), r.partition, r.offset, delta)


async def persist_failures(db: Db, reads: list[Read]) -> list[MinuteTotal]:
    """Store the failures and count each one once; return the minutes' totals before/after."""
    if not reads:
        return []
    todo = await countable(db, reads)
    per_ip = [ip_contribution(r) for r in todo]
    # a new document is born with zero counts, so a reader never meets one without ``total``
    zero: dict[str, dict[str, Any]] = {c.doc_id: {"total": 0} for c in per_ip}
    await guarded_counts.apply(db.ip_stats, per_ip, skeleton=zero, bounded=("routes",))
    minutes = [minute_contribution(r) for r in todo]
    skeleton: dict[str, dict[str, Any]] = {
        c.doc_id: {"minute": int(c.doc_id.split(":")[0]), "source": SOURCE, "total": 0} for c in minutes
    }
    applied = await guarded_counts.apply(db.minute_counts, minutes, skeleton=skeleton, return_after=True)
    totals = []
    for delta, after in applied.values():
        if after is not None:
            total = int(after.get("total", 0))
            totals.append(MinuteTotal(int(after["minute"]), total - delta.inc.get("total", 0), total))
    return totals

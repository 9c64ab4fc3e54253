"""Raw failures and their counters (``ip_stats``, ``minute_counts``), exact under replay.

Each ``ip_stats`` document also lists its IP's newest failures (``recent``:
``recent_entry`` strings, at most ``LIST_KEPT`` once cut), so that the API
shows an IP's latest failures by ``_id`` without reading every failure it
ever had: FerretDB sorts and limits in memory, after fetching all of them.

The insert into ``failures`` (``_id`` = event_id) tells a new event from a
duplicate. A duplicate whose stored (partition, offset) is the message being
processed is a redelivery of the same message, whose increments may still
be missing after a crash: it goes on to the guarded counters, which apply
each message's increments once. A duplicate from another offset is the
producer's re-send of an event already counted: it counts for nothing.
"""

from __future__ import annotations

import asyncio
import heapq
from collections import Counter
from dataclasses import dataclass
from typing import Any, NamedTuple

from pymongo.errors import BulkWriteError, PyMongoError

from failstream.events import FailedRequest
from failstream.stream_app.mongo import guarded_counts, seconds, top_ips
from failstream.stream_app.mongo.client import Db
from failstream.stream_app.mongo.guarded_counts import LIST_KEPT, Contribution, Delta, Entry, field_name

MINUTE_MS = 60_000
SOURCE = "failures"
#: The ``ip_stats`` field listing the IP's newest failures, newest first once cut.
RECENT = "recent"


def recent_entry(ts: int, event_id: str) -> Entry:
    """A failure in a ``recent`` list: its time, zero-padded so that strings sort as times, and id."""
    return f"{ts:015d} {event_id}"


class Read(NamedTuple):
    """An event with the place it was read from (a tuple: one is made per failure)."""

    event: FailedRequest
    partition: int
    offset: int


@dataclass(frozen=True)
class MinuteTotal:
    """A minute's total over all partitions before and after a batch.

    ``replayed``: some of the batch's events of this minute were counted
    before (a replay after a crash, or a producer's re-send), so a threshold
    crossing may have happened in a batch whose alert was never published.
    Requests refused by decision enforcement (reason ``blocked``) are stored
    and counted in ``total`` but left out here: they must not raise alerts.
    """

    minute: int
    before: int
    after: int
    replayed: bool = False


#: A refused request (decision enforcement): stored and counted, never alerted on.
BLOCKED_FIELD = "reasons.blocked"


def minute_of(ts: int) -> int:
    return ts - ts % MINUTE_MS


def minute_doc_id(minute: int, source: str, partition: int) -> str:
    """One document per minute, source *and partition*: each has a single writer.

    FerretDB 1.24 applies an update as read, modify, write without isolation,
    so two processes updating one document lose increments (measured: 4
    concurrent guarded ``$inc`` writers kept 470 of 1,200). Partitions are
    owned by one persister at a time, so per-partition documents are never
    written concurrently; readers sum the documents of a minute.
    """
    return f"{minute}:{source}:p{partition}"


def minute_skeleton(doc_id: str, source: str, partition: int) -> dict[str, Any]:
    """Fields a minute document is born with, so a reader never meets one without ``total``.

    A failures minute is born marked as keeping its top IPs (``top_ips``).
    """
    born: dict[str, Any] = {
        "minute": int(doc_id.split(":")[0]),
        "source": source,
        "partition": partition,
        "total": 0,
    }
    if source == SOURCE:
        born[top_ips.KEPT] = True
    return born


def minute_skeletons(contributions: list[Contribution], source: str) -> dict[str, dict[str, Any]]:
    return {c.doc_id: minute_skeleton(c.doc_id, source, c.partition) for c in contributions}


async def countable(db: Db, reads: list[Read], slots: asyncio.Semaphore | None = None) -> list[Read]:
    """Insert the raw events; return those whose increments may be due."""
    due = await _inserted(db, reads, slots or asyncio.Semaphore(guarded_counts.IN_FLIGHT))
    return [r for r, ok in zip(reads, due, strict=True) if ok]


async def _inserted(db: Db, reads: list[Read], slots: asyncio.Semaphore) -> list[bool]:
    """Insert the raw events; per read, whether its increments may be due."""
    docs = [
        {
            "_id": r.event.event_id,
            **r.event.model_dump(exclude={"event_id", "v"}),
            seconds.SECOND: seconds.second_of(r.event.ts),
            seconds.TENTH: seconds.tenth_of(r.event.ts),
            "partition": r.partition,
            "offset": r.offset,
        }
        for r in reads
    ]
    return await first_placed(db.failures, docs, slots)


#: A batch's raw insert runs as this many ``insert_many`` at once (see ``first_placed``).
INSERTS_AT_ONCE = 2
#: ... when it has at least this many documents per insert.
SPLIT_FROM = 1_000


async def first_placed(
    coll: guarded_counts.Collection, docs: list[dict[str, Any]], slots: asyncio.Semaphore
) -> list[bool]:
    """Insert documents keyed by event id, with their ``partition`` and ``offset``; which may count.

    Per document: True for a new id, or for one stored from this very message
    (its redelivery after a crash, whose increments may still be missing);
    False for an id stored from another place, a re-published copy.

    A large batch is inserted in ``INSERTS_AT_ONCE`` parts at once: one
    ``insert`` command is a single stream of statements on the server (one
    backend connection for FerretDB), which leaves the second core idle.
    Each document is inserted or refused on its own (unordered), so the parts
    need no order between them. FerretDB on SQLite takes one write at a time
    and may refuse the other part (``SQLITE_BUSY``): a part that failed is
    inserted again alone once both have ended, and what it had stored before
    it failed is a duplicate from this very message, so it still counts.
    """
    if not docs:
        return []
    parts = max(1, min(INSERTS_AT_ONCE, len(docs) // SPLIT_FROM))
    size = -(-len(docs) // parts)
    starts = range(0, len(docs), size)
    outcomes = await asyncio.gather(
        *(_duplicates(coll, docs[start : start + size], start) for start in starts), return_exceptions=True
    )
    duplicates: set[int] = set()
    for start, outcome in zip(starts, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            if len(starts) == 1 or not isinstance(outcome, PyMongoError):
                raise outcome
            outcome = await _duplicates(coll, docs[start : start + size], start)
        duplicates |= outcome
    if not duplicates:
        return [True] * len(docs)
    # by _id equality, one query each: FerretDB reads the whole collection for an $in
    found = await guarded_counts.by_ids(
        coll, [docs[i]["_id"] for i in duplicates], {"partition": 1, "offset": 1}, slots
    )
    due = []
    for i, doc in enumerate(docs):
        stored = found.get(doc["_id"], {})
        here = (stored.get("partition"), stored.get("offset")) == (doc["partition"], doc["offset"])
        due.append(i not in duplicates or here)
    return due


async def _duplicates(coll: guarded_counts.Collection, docs: list[dict[str, Any]], base: int) -> set[int]:
    """Insert ``docs`` unordered; the indexes (from ``base``) of those whose id is stored already."""
    duplicates: set[int] = set()
    try:
        await coll.insert_many(docs, ordered=False)
    except BulkWriteError as exc:
        for error in exc.details.get("writeErrors", []):
            if error.get("code") != 11000:
                raise
            duplicates.add(base + error["index"])
    return duplicates


def _label_names(reason: str, status: int, service: str) -> tuple[str, str, str]:
    """A failure's counter fields besides ``total``: spelled here once, for one failure and for a
    batch summed (a redelivery splits a sum back into single failures, which must match it)."""
    return f"reasons.{reason}", f"statuses.{status}", f"services.{field_name(service)}"


def _route_name(method: str, route: str) -> str:
    return f"routes.{field_name(method + ' ' + route)}"


def _labels(e: FailedRequest) -> dict[str, int]:
    return {"total": 1, **dict.fromkeys(_label_names(e.reason, e.status, e.service), 1)}


def ip_contribution(r: Read) -> Contribution:
    e = r.event
    inc = _labels(e)
    inc[_route_name(e.method, e.route)] = 1
    delta = Delta(inc, {"first_seen": e.ts}, {"last_seen": e.ts}, {RECENT: [recent_entry(e.ts, e.event_id)]})
    return Contribution(e.ip, r.partition, r.offset, delta)


def minute_contribution(r: Read) -> Contribution:
    doc_id = minute_doc_id(minute_of(r.event.ts), SOURCE, r.partition)
    return Contribution(
        doc_id, r.partition, r.offset, Delta({**_labels(r.event), seconds.counter_name(r.event.ts): 1})
    )


def _contributions(reads: list[Read]) -> tuple[list[Contribution], list[Contribution]]:
    """Per IP and per minute document, the batch's messages of each partition summed (see
    ``Contribution``): one delta per statement, counted in one pass."""
    per_ip: dict[tuple[str, int], list[Read]] = {}
    per_minute: dict[tuple[int, int], list[Read]] = {}
    for r in reads:
        e = r.event
        per_ip.setdefault((e.ip, r.partition), []).append(r)
        per_minute.setdefault((e.ts - e.ts % MINUTE_MS, r.partition), []).append(r)
    ips = [_summed(ip, p, group, of_ip=True) for (ip, p), group in per_ip.items()]
    minutes = [
        _summed(minute_doc_id(m, SOURCE, p), p, group, of_ip=False) for (m, p), group in per_minute.items()
    ]
    return ips, minutes


def _summed(doc_id: str, partition: int, group: list[Read], *, of_ip: bool) -> Contribution:
    """What ``group`` (reads of one partition) adds to an IP's document, or to a minute's."""
    each = ip_contribution if of_ip else minute_contribution
    if len(group) == 1:
        return each(group[0])
    # an IP counts its routes, a minute its seconds (named once per distinct value)
    tally = Counter(
        (e.reason, e.status, e.service, (e.method, e.route) if of_ip else seconds.second_of(e.ts))
        for e in (r.event for r in group)
    )
    inc = {"total": len(group)}
    for (reason, status, service, extra), n in tally.items():
        last = _route_name(*extra) if isinstance(extra, tuple) else seconds.counter_name(extra)
        for name in (*_label_names(reason, status, service), last):
            inc[name] = inc.get(name, 0) + n
    offsets = [r.offset for r in group]
    delta = Delta(inc)
    if of_ip:
        times = [r.event.ts for r in group]
        delta.min["first_seen"] = min(times)
        delta.max["last_seen"] = max(times)
        newest_reads = heapq.nlargest(LIST_KEPT, ((r.event.ts, r.event.event_id) for r in group))
        delta.lists[RECENT] = [recent_entry(ts, event_id) for ts, event_id in newest_reads]
    return Contribution(
        doc_id, partition, max(offsets), delta, first=min(offsets), split=lambda: [each(r) for r in group]
    )


class RecentLists:
    """IPs whose ``recent`` list was left longer than ``LIST_KEPT``: its newest entries, as written.

    A statement that does not know an IP's list pushes the batch's newest
    entries onto it. When the document after that statement shows the list
    too long, its newest entries are kept here and the IP's next statement
    sets the list whole, cut: no statement of its own. Past ``max_ips`` IPs
    (or without this memory) a list twice too long is cut at once, guarded
    by the mark just written. Forget everything on a rebalance: another
    persister may write these documents meanwhile.
    """

    def __init__(self, max_ips: int = 2_000) -> None:
        self.max_ips = max_ips
        self._lists: dict[str, list[Entry]] = {}

    def known(self, ips: list[str]) -> dict[str, dict[str, list[Entry]]]:
        return {ip: {RECENT: self._lists.pop(ip)} for ip in ips if ip in self._lists}

    def keep(self, ip: str, entries: list[Entry]) -> bool:
        """Remember an IP's newest entries for its next statement; False when full."""
        if len(self._lists) >= self.max_ips:
            return False
        self._lists[ip] = entries
        return True

    def clear(self) -> None:
        self._lists.clear()


@dataclass(frozen=True)
class Staged:
    """A batch whose raw events are stored, with the contributions of those that may count."""

    reads: list[Read]
    per_ip: list[Contribution]
    minutes: list[Contribution]


def statement_slots() -> asyncio.Semaphore:
    """The counters' share of a persister's ``IN_FLIGHT`` statements: the rest is kept for the
    raw inserts of the next batch, which run beside them (``in_turn``)."""
    return asyncio.Semaphore(guarded_counts.IN_FLIGHT - INSERTS_AT_ONCE)


async def persist_failures(db: Db, reads: list[Read], recent: RecentLists | None = None) -> list[MinuteTotal]:
    """Store the failures and count each one once; return the minutes' totals before/after."""
    slots = statement_slots()
    return await count(db, await stage(db, reads, slots), slots, recent)


async def stage(db: Db, reads: list[Read], slots: asyncio.Semaphore) -> Staged:
    """Insert the raw events; the first half of ``persist_failures``."""
    if not reads:
        return Staged([], [], [])
    # the counters' contributions are built in a thread while the server inserts the raw
    # events (most of a batch's time); again from the due reads when some are not
    due, (per_ip, minutes) = await asyncio.gather(
        _inserted(db, reads, slots), asyncio.to_thread(_contributions, reads)
    )
    if not all(due):
        per_ip, minutes = _contributions([r for r, ok in zip(reads, due, strict=True) if ok])
    return Staged(reads, per_ip, minutes)


async def count(
    db: Db, staged: Staged, slots: asyncio.Semaphore, recent: RecentLists | None = None
) -> list[MinuteTotal]:
    """Apply a staged batch's counters, recent lists and top IPs; the minutes' totals before/after it.

    Batches are counted one at a time, in the order they were staged.
    """
    reads, per_ip, minutes = staged.reads, staged.per_ip, staged.minutes
    if not reads:
        return []
    # a new document is born with zero counts, so a reader never meets one without ``total``
    zero: dict[str, dict[str, Any]] = {c.doc_id: {"total": 0} for c in per_ip}
    skeletons = minute_skeletons(minutes, SOURCE)
    # the two collections' documents are independent: written at once, each exactly once
    recent = recent if recent is not None else RecentLists(max_ips=0)
    ips, applied = await guarded_counts.all_ended(
        guarded_counts.apply(
            db.ip_stats,
            per_ip,
            skeleton=zero,
            bounded=("routes",),
            return_after=True,
            slots=slots,
            lists=recent.known(list(zero)),
        ),
        guarded_counts.apply(db.minute_counts, minutes, skeleton=skeletons, return_after=True, slots=slots),
    )
    partition = {c.doc_id: c.partition for c in per_ip}
    await guarded_counts.all_ended(
        _record_top_ips(db, partition, ips, applied, slots), _cut_recent(db, partition, ips, recent, slots)
    )
    seen: dict[int, int] = {}
    for r in reads:
        minute = minute_of(r.event.ts)
        seen[minute] = seen.get(minute, 0) + (r.event.reason != "blocked")
    added = dict.fromkeys(seen, 0)
    for delta, after in applied.values():
        if after is not None:
            minute = int(after["minute"])
            added[minute] = added.get(minute, 0) + delta.inc.get("total", 0) - delta.inc.get(BLOCKED_FIELD, 0)
    return await _minute_totals(db, added, seen, slots)


async def _record_top_ips(
    db: Db,
    partition: dict[str, int],
    ips: dict[str, tuple[Delta, dict[str, Any] | None]],
    minutes: dict[str, tuple[Delta, dict[str, Any] | None]],
    slots: asyncio.Semaphore,
) -> None:
    """Enter each IP of the batch, with its total now, in the minute document of its ``last_seen``.

    ``partition``: the partition each IP of the batch was read from.
    """
    candidates: dict[str, list[top_ips.Entry]] = {}
    skeletons: dict[str, dict[str, Any]] = {}
    for ip, (_, after) in ips.items():
        if after is None or after.get("last_seen") is None:
            continue
        doc_id = minute_doc_id(minute_of(int(after["last_seen"])), SOURCE, partition[ip])
        candidates.setdefault(doc_id, []).append((ip, int(after.get("total") or 0)))
        skeletons[doc_id] = minute_skeleton(doc_id, SOURCE, partition[ip])
    known = {doc_id: after for doc_id, (_, after) in minutes.items() if after is not None}
    await top_ips.record(db.minute_counts, candidates, known, skeletons, slots)


async def _cut_recent(
    db: Db,
    partition: dict[str, int],
    ips: dict[str, tuple[Delta, dict[str, Any] | None]],
    recent: RecentLists,
    slots: asyncio.Semaphore,
) -> None:
    """Keep the newest entries of lists left too long for their next statement, or cut them now."""
    cut: dict[str, tuple[dict[str, Any], list[Entry]]] = {}
    for ip, (_, after) in ips.items():
        if after is None or len(entries := after.get(RECENT) or []) <= LIST_KEPT:
            continue
        kept = guarded_counts.newest(entries, LIST_KEPT)
        if recent.keep(ip, kept) or len(entries) <= 2 * LIST_KEPT:
            continue
        mark = f"p{partition[ip]}"
        # guarded by the mark just written: a document another writer moved on is left as it is
        cut[ip] = ({"_id": ip, f"applied.{mark}": after.get("applied", {}).get(mark)}, kept)

    async def one(ip: str) -> None:
        guard, kept = cut[ip]
        await db.ip_stats.update_one(guard, {"$set": {RECENT: kept}})

    await guarded_counts.each(sorted(cut), one, slots)


async def _minute_totals(
    db: Db, added: dict[int, int], seen: dict[int, int], slots: asyncio.Semaphore
) -> list[MinuteTotal]:
    """Each minute's total over all partitions, read after this batch's updates.

    Read after writing, the last of several concurrent persisters sees every
    increment, so a threshold crossing is never missed (at worst it is seen
    twice, and the alert key makes the copies one alert). A minute of which
    this batch added less than it read is marked ``replayed``.
    """
    if not added:
        return []
    totals = dict.fromkeys(added, 0)

    async def read(minute: int) -> None:
        # equalities only (pushed down, indexed by minute); an $in of minutes reads them all
        async for doc in db.minute_counts.find(
            {"minute": minute, "source": SOURCE}, {"total": 1, BLOCKED_FIELD: 1}
        ):
            blocked = int((doc.get("reasons") or {}).get("blocked") or 0)
            totals[minute] += int(doc.get("total") or 0) - blocked

    await guarded_counts.each(sorted(added), read, slots)
    return [
        MinuteTotal(m, totals[m] - added[m], totals[m], replayed=added[m] < seen.get(m, 0))
        for m in sorted(added)
    ]

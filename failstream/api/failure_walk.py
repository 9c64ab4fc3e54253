"""Pages of ``failures`` read second by second, newest first: no read grows with what is stored.

FerretDB 1.24 sorts and limits in memory after fetching every document the
filter matches (docs/mongodb.md), so "the newest failures", or the newest of
a reason, read as one query fetches every stored failure. Instead a page
walks the ``minute_counts`` documents back from its position and, in each
minute, reads only the seconds that hold failures, each by an equality on
the failure's indexed ``second`` (``stream_app.mongo.seconds``), or, in a
second holding more than ``BUSY_SECOND`` failures, tenth by tenth of a
second (``tenth``): a read returns at most one second's failures (a tenth's
in a busy one), whatever the store holds. Minutes whose counters show no
failure of the page's reason or service are skipped unread.

Minutes are read one by one while they hold failures; after
``EMPTY_MINUTES_BEFORE_LIST`` empty ones in a row the rest are listed by one
read of the minute documents (the counters kept, not failures), so a quiet
store's page needs no walk through its silent hours.

A request walks for at most ``budget_s`` once it has read a group of
seconds: a page that reaches it before it is full (a rare reason far back)
ends early with a cursor after the last second it read, so every request's
work is bounded and the next one resumes there. Failures stored before
the counts were kept (an upgrade) have no ``second`` and are not listed
here; an IP's page still shows them (``api.failure_pages``) until the
retention removes them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from failstream.api.lookups import newest_first
from failstream.api.pagination import Position, before, encode, page_of, with_position
from failstream.stream_app.mongo import seconds
from failstream.stream_app.mongo.guarded_counts import field_name

Doc = dict[str, Any]
MINUTE_MS, SECOND_MS, TENTH_MS = seconds.MINUTE_MS, seconds.SECOND_MS, seconds.TENTH_MS
#: Empty minutes read one by one before the remaining minutes are listed at once.
EMPTY_MINUTES_BEFORE_LIST = 15
#: Seconds read at once (each one query per spelling of the address).
SECONDS_AT_ONCE = 4
#: A second holding more failures than this is read tenth by tenth: FerretDB decodes, sorts and
#: limits all that a read matches, so a read costs what its second holds.
BUSY_SECOND = 200
#: How long a request walks before it answers with what it has and a cursor to go on.
BUDGET_S = 0.5
#: Page one starts this far ahead of now: a failure stamped by a host whose clock runs ahead.
AHEAD_MS = MINUTE_MS


@dataclass(frozen=True)
class Filter:
    """What a page lists: one equality query per spelling of the address (or one without it).

    ``counters``: the minute documents' counters of the reason and service
    asked for (a minute where one is zero is skipped); ``since``: nothing
    older is stored (an IP's ``first_seen``).
    """

    queries: list[Doc]
    counters: tuple[str, ...] = ()
    since: int = 0


def filter_of(spellings: list[str] | None, reason: str | None, service: str | None, since: int = 0) -> Filter:
    equal = {name: value for name, value in (("reason", reason), ("service", service)) if value is not None}
    queries = [{"ip": s, **equal} for s in spellings] if spellings else [equal]
    counters = tuple(
        name
        for name in (
            f"reasons.{reason}" if reason is not None else None,
            f"services.{field_name(service)}" if service is not None else None,
        )
        if name is not None
    )
    return Filter(queries, counters, since)


@dataclass
class Minute:
    """A minute's documents (one per partition) summed."""

    minute: int
    per_second: dict[int, int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, doc: Doc, counters: tuple[str, ...]) -> None:
        for second, n in seconds.counted(self.minute, doc.get(seconds.FIELD)).items():
            self.per_second[second] = self.per_second.get(second, 0) + n
        for name in counters:
            group, _, label = name.partition(".")
            n = (doc.get(group) or {}).get(label) or 0
            self.counts[name] = self.counts.get(name, 0) + (int(n) if isinstance(n, int) else 0)

    def may_hold(self, counters: tuple[str, ...]) -> bool:
        return all(self.counts.get(name, 0) > 0 for name in counters)


def _projection(counters: tuple[str, ...]) -> Doc:
    return {"minute": 1, seconds.FIELD: 1, **dict.fromkeys(counters, 1)}


async def minutes_back(db: AsyncDatabase[Doc], first: int, flt: Filter) -> AsyncIterator[Minute]:
    """The minutes from ``first`` back to ``flt.since`` that may hold the page's failures, newest first."""
    projection = _projection(flt.counters)
    minute, passed, floor = first, 0, flt.since - flt.since % MINUTE_MS
    while minute >= floor:
        found = Minute(minute)
        # equalities only: pushed down, and indexed by minute on PostgreSQL
        docs = await db.minute_counts.find({"minute": minute, "source": "failures"}, projection).to_list(None)
        for doc in docs:
            found.add(doc, flt.counters)
        if docs and found.may_hold(flt.counters):
            passed = 0
            yield found
        else:
            passed += 1
        if passed >= EMPTY_MINUTES_BEFORE_LIST:
            async for listed in _listed(db, minute, floor, flt.counters, projection):
                if listed.may_hold(flt.counters):
                    yield listed
            return
        minute -= MINUTE_MS


async def _listed(
    db: AsyncDatabase[Doc], below: int, floor: int, counters: tuple[str, ...], projection: Doc
) -> AsyncIterator[Minute]:
    """The minutes before ``below``, from one read of the failures' minute documents."""
    query = {"source": "failures", "minute": {"$lt": below, "$gte": floor}}
    found: dict[int, Minute] = {}
    async for doc in db.minute_counts.find(query, projection, batch_size=1000):
        minute = int(doc["minute"])
        found.setdefault(minute, Minute(minute)).add(doc, counters)
    for minute in sorted(found, reverse=True):
        yield found[minute]


def _groups(per_second: dict[int, int], last: int, need: int) -> list[list[int]]:
    """The minute's seconds up to ``last``, newest first, in groups read at once: a group ends once
    it holds ``need`` failures (before any filter) or has ``SECONDS_AT_ONCE`` seconds; a busy
    second is a group of its own."""
    groups: list[list[int]] = []
    group: list[int] = []
    held = 0
    for second in sorted((s for s in per_second if s <= last), reverse=True):
        if per_second[second] > BUSY_SECOND and group:
            groups.append(group)
            group, held = [], 0
        group.append(second)
        held += per_second[second]
        if held >= need or len(group) == SECONDS_AT_ONCE or per_second[second] > BUSY_SECOND:
            groups.append(group)
            group, held = [], 0
    return [*groups, group] if group else groups


async def page(
    db: AsyncDatabase[Doc],
    flt: Filter,
    position: Position | None,
    limit: int,
    *,
    now: int,
    budget_s: float = BUDGET_S,
) -> tuple[list[Doc], str | None]:
    """One page of failures matching ``flt`` after ``position``, and the next page's cursor.

    A position with an empty id (one this walk ended a short page with)
    means "before that time"; any other, "after that failure".
    """
    need = limit + 1
    deadline = time.monotonic() + budget_s
    upto = now + AHEAD_MS if position is None else position.time - (0 if position.id else 1)
    cond = before(position, "ts") if position is not None and position.id else {}
    # the second and the tenth holding the position: read behind it, the others whole
    at = {
        seconds.SECOND: seconds.second_of(position.time) if cond and position else None,
        seconds.TENTH: seconds.tenth_of(position.time) if cond and position else None,
    }
    got: list[Doc] = []

    async def read(name: str, starts: list[int]) -> list[Doc]:
        """The failures of ``starts`` (seconds or tenths) at once; each is older than every failure
        read so far, so only its newest ``n`` can count."""
        n = need - len(got)
        queries = [
            with_position({name: start, **query}, cond if start == at[name] else {})
            for start in starts
            for query in flt.queries
        ]
        found = await asyncio.gather(
            *(db.failures.find(q).sort([("ts", -1), ("_id", -1)]).limit(n).to_list(n) for q in queries)
        )
        return [d for docs in found for d in docs]

    async for minute in minutes_back(db, upto - upto % MINUTE_MS, flt):
        for group in _groups(minute.per_second, upto, need - len(got)):
            busy = minute.per_second[group[0]] > BUSY_SECOND
            reads = (
                [
                    (seconds.TENTH, [t])
                    for t in range(group[0] + SECOND_MS - TENTH_MS, group[0] - 1, -TENTH_MS)
                    if t <= upto
                ]
                if busy
                else [(seconds.SECOND, group)]
            )
            for name, starts in reads:
                got = newest_first(got + await read(name, starts), "ts", need)
                if len(got) >= need:
                    return _page(got, limit)
                if time.monotonic() > deadline:  # everything newer than starts[-1] has been read
                    return got, encode("failures", Position(starts[-1], ""))
        if time.monotonic() > deadline:
            return got, encode("failures", Position(minute.minute, ""))
    return got, None


def _page(docs: list[Doc], limit: int) -> tuple[list[Doc], str | None]:
    return page_of(newest_first(docs, "ts", limit + 1), kind="failures", time_field="ts", limit=limit)

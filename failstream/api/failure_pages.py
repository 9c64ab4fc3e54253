"""Which read serves a page of ``failures``: each costs the same however many are stored.

- An IP's first page, unfiltered: its ``ip_stats`` list of newest ids, by
  ``_id`` (``lookups.listed_failures``).
- An IP with at most ``READ_WHOLE_UP_TO`` failures: the query by ``ip``,
  which makes FerretDB fetch all of them (an equality per spelling).
- Anything else: second by second (``api.failure_walk``), an IP's from its
  ``first_seen`` on.
"""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from failstream.api import failure_walk, lookups
from failstream.api.pagination import Position, fetch_page, page_of
from failstream.api.params import ip_match

Doc = dict[str, Any]
#: An IP with at most this many stored failures is paged by the query by ``ip``.
READ_WHOLE_UP_TO = 1_000


async def page(
    db: AsyncDatabase[Doc],
    *,
    ip: str | None,
    reason: str | None,
    service: str | None,
    position: Position | None,
    limit: int,
    now: int,
) -> tuple[list[Doc], str | None]:
    """A page of failures matching the filters after ``position``, and the next page's cursor."""
    if ip is None:
        return await failure_walk.page(
            db, failure_walk.filter_of(None, reason, service), position, limit, now=now
        )
    match = ip_match(ip)
    stats = await lookups.first(db.ip_stats, "_id", match)
    return await ip_page(db, match, stats, reason, service, position, limit, now=now)


async def ip_page(
    db: AsyncDatabase[Doc],
    match: dict[str, list[str]],
    stats: Doc | None,
    reason: str | None,
    service: str | None,
    position: Position | None,
    limit: int,
    *,
    now: int,
) -> tuple[list[Doc], str | None]:
    """A page of an IP's failures (``stats``: its ``ip_stats`` document, if any)."""
    if reason is None and service is None and position is None:
        # one more than the page says whether a next one exists
        found = await lookups.listed_failures(db.failures, match, stats, limit + 1)
        if found is not None:
            return page_of(found, kind="failures", time_field="ts", limit=limit)
    since = int((stats or {}).get("first_seen") or 0)
    flt = failure_walk.filter_of(lookups.spellings(match), reason, service, since)
    if int((stats or {}).get("total") or 0) <= READ_WHOLE_UP_TO:
        # the walk's own queries, one equality per spelling, read whole
        return await fetch_page(
            db.failures, flt.queries, kind="failures", time_field="ts", position=position, limit=limit
        )
    return await failure_walk.page(db, flt, position, limit, now=now)

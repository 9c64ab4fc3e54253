"""Lookups by one field that FerretDB answers from an index: an equality per query, never ``$in``.

FerretDB 1.24 pushes a top-level equality down to its backend and nothing
else, ``$in`` included (docs/mongodb.md): an address asked for in two
spellings (as stored and canonical) is two equality queries merged here,
where one ``$in`` would scan the whole collection on every request.
"""

from __future__ import annotations

import asyncio
from typing import Any

from failstream.stream_app.mongo.guarded_counts import LIST_KEPT

Doc = dict[str, Any]


def spellings(match: str | dict[str, list[str]]) -> list[str]:
    """The values of an ``ip_match`` (``{"$in": [...]}``) or of a plain value."""
    return list(match["$in"]) if isinstance(match, dict) else [match]


def newest_first(docs: list[Doc], time_field: str, limit: int) -> list[Doc]:
    """Documents of several queries in one (time, _id) newest-first order, the first ``limit``."""
    unique = {str(d["_id"]): d for d in docs}.values()
    ordered = sorted(unique, key=lambda d: (int(d.get(time_field) or 0), str(d["_id"])), reverse=True)
    return ordered[:limit]


async def first(collection: Any, field: str, match: str | dict[str, list[str]]) -> Doc | None:
    """The first document whose ``field`` is one of the spellings."""
    for value in spellings(match):
        doc: Doc | None = await collection.find_one({field: value})
        if doc is not None:
            return doc
    return None


async def newest(
    collection: Any, field: str, match: str | dict[str, list[str]], time_field: str, limit: int
) -> list[Doc]:
    """The ``limit`` newest documents whose ``field`` is one of the spellings."""
    order = [(time_field, -1), ("_id", -1)]
    pages = await asyncio.gather(
        *(collection.find({field: v}).sort(order).limit(limit).to_list(limit) for v in spellings(match))
    )
    return newest_first([d for page in pages for d in page], time_field, limit)


#: An IP with more stored failures than this has its page read through its ``recent`` list: the
#: query by ``ip`` makes FerretDB fetch every failure of the IP before it sorts and limits.
LISTED_ABOVE = 100


async def listed_failures(
    failures: Any, match: str | dict[str, list[str]], stats: Doc | None, limit: int
) -> list[Doc] | None:
    """An IP's ``limit`` newest failures by ``_id`` from its ``ip_stats`` list; None where the list
    does not cover them.

    The persister keeps each IP's newest failure ids in ``ip_stats.recent``
    (``stream_app.mongo.failures``). Read from there, a page costs ``limit``
    ``_id`` lookups whatever the IP's history. The list covers the page with
    one spelling, more than ``LISTED_ABOVE`` failures, at least ``limit``
    entries (a document written before the list existed has fewer), and
    ``limit`` at most ``LIST_KEPT``: past those, the entries of one batch
    after another are not the IP's newest.
    """
    entries = (stats or {}).get("recent") or []
    total = int((stats or {}).get("total") or 0)
    covers = limit <= LIST_KEPT and len(entries) >= limit
    if len(spellings(match)) != 1 or total <= LISTED_ABOVE or not covers:
        return None
    # entries are "<zero-padded ts> <event id>": the greatest strings are the newest
    ids = [str(e).partition(" ")[2] for e in sorted(set(entries), reverse=True)[:limit]]
    found = await asyncio.gather(*(failures.find_one({"_id": i}) for i in ids))
    return [d for d in found if d is not None]  # one the retention removed is gone

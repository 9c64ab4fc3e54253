"""Lookups by one field that FerretDB answers from an index: an equality per query, never ``$in``.

FerretDB 1.24 pushes a top-level equality down to its backend and nothing
else, ``$in`` included (docs/mongodb.md): an address asked for in two
spellings (as stored and canonical) is two equality queries merged here,
where one ``$in`` would scan the whole collection on every request.
"""

from __future__ import annotations

import asyncio
from typing import Any

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

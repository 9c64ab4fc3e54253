"""Opaque cursors over a stable order: newest first by (time, id).

A cursor is the (time, id) of the last item a page returned, wrapped in
base64url JSON with the name of the list it belongs to. The next page asks for
items strictly *before* that position, so an item inserted meanwhile (newer,
hence before page one) can never shift the later pages: nothing is skipped or
repeated, unlike ``skip``/``offset`` paging.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from failstream.api.lookups import newest_first


class CursorError(ValueError):
    """The cursor was not made by this list (or was edited)."""


@dataclass(frozen=True)
class Position:
    """Where a page ended: the sort time and the id of its last item."""

    time: int
    id: str


def encode(kind: str, position: Position) -> str:
    raw = json.dumps([kind, position.time, position.id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode(kind: str, cursor: str) -> Position:
    """The position in ``cursor``, or CursorError naming what is wrong."""
    if len(cursor) > 1024:
        raise CursorError("too long")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise CursorError("not a cursor returned by this API") from exc
    if (
        not isinstance(value, list)
        or len(value) != 3
        or not isinstance(value[1], int)
        or isinstance(value[1], bool)
        or not 0 <= value[1] < 2**53  # BSON cannot hold any int, and no time is outside this
        or not isinstance(value[2], str)
    ):
        raise CursorError("not a cursor returned by this API")
    if value[0] != kind:
        raise CursorError(f"this cursor belongs to another list ({value[0]!r}), not {kind!r}")
    return Position(value[1], value[2])


def before(position: Position | None, time_field: str) -> dict[str, Any]:
    """The filter for items after ``position`` in newest-first order (empty on page one)."""
    if position is None:
        return {}
    return {
        "$or": [
            {time_field: {"$lt": position.time}},
            {time_field: position.time, "_id": {"$lt": position.id}},
        ]
    }


def sort_spec(time_field: str) -> list[tuple[str, int]]:
    return [(time_field, -1), ("_id", -1)]


def with_position(query: dict[str, Any], cond: dict[str, Any]) -> dict[str, Any]:
    """``query`` and the page's position as one filter, the query's fields kept at the top level.

    FerretDB pushes down only top-level equalities (docs/mongodb.md): under an
    ``$and`` even an indexed ``ip`` would be a scan of the whole collection.
    """
    if not cond:
        return query
    if "$or" in query:
        return {"$and": [query, cond]}
    return {**query, **cond}


async def fetch_page(
    collection: Any,
    query: dict[str, Any] | list[dict[str, Any]],
    *,
    kind: str,
    time_field: str,
    position: Position | None,
    limit: int,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of ``collection`` matching ``query``, and the cursor of the next (None at the end).

    A list of queries pages through the documents matching any of them (one
    query each, merged: see ``api.lookups``). Reads ``limit + 1`` documents:
    the extra one only says whether a next page exists, so the last page
    never ends with an empty follow-up request.
    """
    cond = before(position, time_field)
    queries = query if isinstance(query, list) else [query]
    order, n = sort_spec(time_field), limit + 1
    pages = await asyncio.gather(
        *(collection.find(with_position(q, cond)).sort(order).limit(n).to_list(n) for q in queries)
    )
    docs = pages[0] if len(pages) == 1 else newest_first([d for page in pages for d in page], time_field, n)
    return page_of(docs, kind=kind, time_field=time_field, limit=limit)


def page_of(
    docs: list[dict[str, Any]], *, kind: str, time_field: str, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of up to ``limit + 1`` newest-first documents, and the next page's cursor (None at the end)."""
    more = len(docs) > limit
    docs = docs[:limit]
    nxt = encode(kind, Position(int(docs[-1][time_field]), str(docs[-1]["_id"]))) if more else None
    return docs, nxt

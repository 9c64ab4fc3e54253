"""Each failures minute document keeps its top IPs, so a window's top IPs need no scan of ``ip_stats``.

``top_ips`` of a ``minute_counts`` document (source ``failures``, one
partition) holds up to ``TOP_IPS`` entries ``{"ip", "total"}``: IPs whose
``last_seen`` lies in that minute, with their all-time ``ip_stats`` total
as it was after the batch that wrote them, ranked by total, then address.
An IP is entered in the document of the minute of its ``last_seen`` every
time its total grows, so the document of an IP's latest failure holds its
current total unless ten IPs of that minute rank above it, and those rank
above it in any window that holds the minute too: the union of a window's
lists, ranked by the highest total each IP has in it, starts with the
window's top IPs by ``ip_stats`` total (docs/mongodb.md).

Merging is a maximum per IP, so a replay writes the same list again. A
document is born with ``top_ips_kept: true`` (FerretDB 1.24 drops an empty
array from ``$setOnInsert``, so the list itself cannot mark it): one without
it was born before the lists were kept, and IPs may be missing from it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from failstream.stream_app.mongo import guarded_counts

TOP_IPS = 10
FIELD = "top_ips"
KEPT = "top_ips_kept"

Entry = tuple[str, int]


def ranked(entries: Iterable[Entry], n: int = TOP_IPS) -> list[Entry]:
    """The ``n`` best IPs by their highest total among ``entries``, ties by address."""
    best: dict[str, int] = {}
    for ip, total in entries:
        best[ip] = max(best.get(ip, total), total)
    return sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))[:n]


def entries_of(doc: dict[str, Any]) -> list[Entry]:
    return [(str(e["ip"]), int(e["total"])) for e in doc.get(FIELD) or []]


async def record(
    coll: guarded_counts.Collection,
    candidates: dict[str, list[Entry]],
    known: dict[str, dict[str, Any]],
    skeletons: dict[str, dict[str, Any]],
    slots: asyncio.Semaphore,
) -> None:
    """Merge ``candidates`` (per minute document id) into the documents' lists.

    ``known`` holds documents as this batch's counter updates returned them;
    the others are read by ``_id``. A list that would not change is not
    written. A document missing altogether is created from ``skeletons``.
    """
    unknown = [doc_id for doc_id in candidates if doc_id not in known]
    read = await guarded_counts.by_ids(coll, unknown, {FIELD: 1}, slots) if unknown else {}
    docs = {**read, **{k: v for k, v in known.items() if k in candidates}}

    async def merge(doc_id: str) -> None:
        doc = docs.get(doc_id)
        before = entries_of(doc) if doc else []
        after = ranked([*before, *candidates[doc_id]])
        if doc is not None and after == before:
            return
        update: dict[str, Any] = {"$set": {FIELD: [{"ip": ip, "total": total} for ip, total in after]}}
        if doc is None:
            update["$setOnInsert"] = {k: v for k, v in skeletons.get(doc_id, {}).items() if k != FIELD}
        await coll.update_one({"_id": doc_id}, update, upsert=doc is None)

    await guarded_counts.each(sorted(candidates), merge, slots)

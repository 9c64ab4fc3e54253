"""Counters that a replay or a crash can neither double nor lose.

Each counter document remembers, per source partition, the offset of the
last message whose increments it holds (``applied.p<partition>``). An update
carries only the increments of messages past that offset and moves the mark
in the same single-document update, guarded by the mark it read, so it is
atomic on MongoDB and FerretDB alike. A crash between two documents' updates
leaves each document either fully updated or not at all, and the replay
finishes the ones that were not. A guard that no longer matches (another
worker wrote during a rebalance) makes the loop re-read and retry.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from pymongo import ReturnDocument, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

Collection = AsyncCollection[dict[str, Any]]
MAX_ATTEMPTS = 10
#: Updates per command. FerretDB 1.24 holds one backend connection per statement that
#: matches a document until the whole ``update`` ends, and waits for a free one forever:
#: a command of more matching statements than its pool has connections hangs the
#: server. 16 (+1 for the write) keeps five persisters at once inside the local
#: PostgreSQL pool of ``infra_ferretdb_pool_size`` (100) with room for every reader.
BULK_CHUNK = 16
#: How many persisters (stream workers) one local FerretDB is sized for.
PERSISTERS_PER_POOL = 5
#: Distinct labels kept under a bounded prefix (e.g. ``routes.``); the rest count as "(other)".
MAX_LABELS = 20
OTHER = "(other)"


def field_name(label: str) -> str:
    """A label made safe as one MongoDB field name (no dots, no leading ``$``)."""
    label = label.replace(".", "\uff0e")
    return "\uff04" + label[1:] if label.startswith("$") else label


@dataclass
class Delta:
    inc: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    min: dict[str, int] = field(default_factory=dict)
    max: dict[str, int] = field(default_factory=dict)

    def count(self, name: str, n: int = 1) -> None:
        self.inc[name] += n

    def low(self, name: str, value: int) -> None:
        self.min[name] = min(self.min.get(name, value), value)

    def high(self, name: str, value: int) -> None:
        self.max[name] = max(self.max.get(name, value), value)

    def merge(self, other: Delta) -> None:
        for k, n in other.inc.items():
            self.inc[k] += n
        for k, v in other.min.items():
            self.low(k, v)
        for k, v in other.max.items():
            self.high(k, v)


@dataclass(frozen=True)
class Contribution:
    """What the message at (partition, offset) adds to document ``doc_id``."""

    doc_id: str
    partition: int
    offset: int
    delta: Delta


def _bound_labels(inc: dict[str, int], doc: dict[str, Any], bounded: tuple[str, ...]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    known = {prefix: set(doc.get(prefix, {})) for prefix in bounded}
    for name, n in inc.items():
        prefix, _, label = name.partition(".")
        if prefix in known and label not in known[prefix]:
            if len(known[prefix]) >= MAX_LABELS:
                name = f"{prefix}.{OTHER}"
            else:
                known[prefix].add(label)
        out[name] += n
    return out


def _update(doc: dict[str, Any], partition: int, offset: int, delta: Delta, bounded: tuple[str, ...]) -> Any:
    mark = f"applied.p{partition}"
    applied = doc.get("applied", {}).get(f"p{partition}")
    guard: dict[str, Any] = {"_id": doc["_id"], mark: applied if applied is not None else {"$exists": False}}
    update: dict[str, Any] = {"$set": {mark: offset}}
    inc = _bound_labels(delta.inc, doc, bounded)
    if inc:
        update["$inc"] = inc
    if delta.min:
        update["$min"] = delta.min
    if delta.max:
        update["$max"] = delta.max
    return guard, update


async def apply(
    coll: Collection,
    contributions: list[Contribution],
    *,
    skeleton: dict[str, dict[str, Any]] | None = None,
    bounded: tuple[str, ...] = (),
    return_after: bool = False,
) -> dict[str, tuple[Delta, dict[str, Any] | None]]:
    """Apply each contribution exactly once; return per document the delta applied now.

    ``skeleton`` gives the fields of a document that does not exist yet.
    With ``return_after`` each document is updated on its own and the
    document after the update is returned (for threshold crossings).
    """
    by_doc: dict[str, list[Contribution]] = defaultdict(list)
    for c in contributions:
        by_doc[c.doc_id].append(c)
    result: dict[str, tuple[Delta, dict[str, Any] | None]] = {}
    pending = set(by_doc)
    for _ in range(MAX_ATTEMPTS):
        if not pending:
            return result
        projection = {"applied": 1, **{p: 1 for p in bounded}}
        docs = {d["_id"]: d async for d in coll.find({"_id": {"$in": sorted(pending)}}, projection)}
        missing = [doc_id for doc_id in pending if doc_id not in docs]
        if missing:
            try:
                await coll.insert_many(
                    [{"_id": m, **(skeleton or {}).get(m, {})} for m in missing], ordered=False
                )
            except BulkWriteError as exc:
                if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
                    raise
            continue  # re-read: the marks of the documents are known only now
        planned: list[tuple[str, Any, Any, Delta]] = []
        for doc_id in sorted(pending):
            doc = docs[doc_id]
            for partition in {c.partition for c in by_doc[doc_id]}:
                applied = doc.get("applied", {}).get(f"p{partition}", -1)
                todo = [c for c in by_doc[doc_id] if c.partition == partition and c.offset > applied]
                if not todo:
                    continue
                delta = Delta()
                for c in todo:
                    delta.merge(c.delta)
                guard, update = _update(doc, partition, max(c.offset for c in todo), delta, bounded)
                planned.append((doc_id, guard, update, delta))
        if not planned:
            return result
        matched = 0
        if return_after:
            for doc_id, guard, update, delta in planned:
                after = await coll.find_one_and_update(guard, update, return_document=ReturnDocument.AFTER)
                if after is not None:
                    matched += 1
                    result.setdefault(doc_id, (Delta(), None))[0].merge(delta)
                    result[doc_id] = (result[doc_id][0], after)
        else:
            ops = [UpdateOne(g, u) for _, g, u, _ in planned]
            for i in range(0, len(ops), BULK_CHUNK):
                outcome = await coll.bulk_write(ops[i : i + BULK_CHUNK], ordered=False)
                matched += outcome.matched_count
            if matched == len(planned):
                for doc_id, _, _, delta in planned:
                    result.setdefault(doc_id, (Delta(), None))[0].merge(delta)
        if matched == len(planned):
            return result
        # some guard failed: re-read the marks and apply what is still missing
    raise RuntimeError(f"counters of {sorted(pending)[:3]} kept changing under {MAX_ATTEMPTS} attempts")

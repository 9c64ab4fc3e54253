"""Counters that a replay or a crash can neither double nor lose.

Each counter document remembers, per source partition, the offset of the
last message whose increments it holds (``applied.p<partition>``). An update
carries only the increments of messages past that offset and moves the mark
in the same single-document update, guarded by the mark, so it is atomic on
MongoDB and FerretDB alike. A crash between two documents' updates leaves
each document either fully updated or not at all, and the replay finishes
the ones that were not.

The guard is first put in the update's filter, with no read: "the mark is
before the first of these messages, or absent", an upsert that creates a
document not there yet. It fails on a document that holds some of them (a
replay) or that has not seen one of the batch's bounded labels yet; that
document alone is then read, by ``_id`` equality (what FerretDB 1.24 pushes
down and finds by index; an ``$in`` or ``$or`` of ids reads the whole
collection), and updated with exactly what it lacks, guarded by the mark it
read. A guard that no longer matches (another worker wrote during a
rebalance) makes that document re-read and retry.

One document is written by one statement at a time, and at most
``IN_FLIGHT`` statements run at once (see there).
"""

from __future__ import annotations

import asyncio
import functools
import heapq
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

Collection = AsyncCollection[dict[str, Any]]
T = TypeVar("T")
MAX_ATTEMPTS = 10
#: Statements in flight per persister. FerretDB 1.24 holds the backend connection of a
#: statement's read until the statement ends and takes one more for its write, waiting
#: for a free one forever: when every connection of its pool is held by a statement
#: waiting for its write, the server hangs. 16 (+1 for the write that lets one finish)
#: keeps five persisters at once inside the local PostgreSQL pool of
#: ``infra_ferretdb_pool_size`` (100) with room for every reader.
IN_FLIGHT = 16
#: How many persisters (stream workers) one local FerretDB is sized for.
PERSISTERS_PER_POOL = 5
#: Distinct labels kept under a bounded prefix (e.g. ``routes.``); the rest count as "(other)".
MAX_LABELS = 20
OTHER = "(other)"
#: Entries a bounded list keeps (``Delta.lists``): what one read of its document can show.
LIST_KEPT = 60


@functools.lru_cache(maxsize=4096)
def field_name(label: str) -> str:
    """A label made safe as one MongoDB field name (no dots, no leading ``$``)."""
    label = label.replace(".", "\uff0e")
    return "\uff04" + label[1:] if label.startswith("$") else label


#: An entry of a newest-first list: a string that sorts as its time (``failures.recent_entry``);
#: FerretDB 1.24 stores no arrays in arrays.
Entry = str
Lists = Mapping[str, list[Entry]]


def newest(entries: Iterable[Entry], keep: int) -> list[Entry]:
    """The ``keep`` newest entries (the greatest strings), newest first, each once."""
    return heapq.nlargest(keep, set(entries))


@dataclass
class Delta:
    inc: dict[str, int] = field(default_factory=dict)
    min: dict[str, int] = field(default_factory=dict)
    max: dict[str, int] = field(default_factory=dict)
    #: entries for bounded newest-first lists (field -> entries), at most ``LIST_KEPT`` kept
    lists: dict[str, list[Entry]] = field(default_factory=dict)

    def count(self, name: str, n: int = 1) -> None:
        self.inc[name] = self.inc.get(name, 0) + n

    def low(self, name: str, value: int) -> None:
        self.min[name] = min(self.min.get(name, value), value)

    def high(self, name: str, value: int) -> None:
        self.max[name] = max(self.max.get(name, value), value)

    def merge(self, other: Delta) -> None:
        inc = self.inc
        for k, n in other.inc.items():
            inc[k] = inc.get(k, 0) + n
        for k, v in other.min.items():
            self.low(k, v)
        for k, v in other.max.items():
            self.high(k, v)
        for k, entries in other.lists.items():
            self.lists.setdefault(k, []).extend(entries)


@dataclass(frozen=True)
class Contribution:
    """What the message at (partition, offset) adds to document ``doc_id``.

    Or what several messages of one partition add, summed (``first`` the
    lowest of their offsets, ``offset`` the highest): one delta to write for
    a document that holds none of them, built once instead of merged per
    message. ``split`` gives them back one by one, for a document that holds
    some of them already.
    """

    doc_id: str
    partition: int
    offset: int
    delta: Delta
    first: int | None = None
    split: Callable[[], list[Contribution]] | None = None


def one_by_one(contributions: list[Contribution]) -> list[Contribution]:
    """The contributions with each summed one split into its messages' own."""
    return [part for c in contributions for part in (c.split() if c.split is not None else (c,))]


async def each(items: Iterable[T], work: Callable[[T], Awaitable[Any]], slots: asyncio.Semaphore) -> None:
    """``work`` on every item, as many at once as ``slots`` allows.

    After an error no further item is begun, and the error is raised only
    once every begun one has ended: a retry of the caller never runs beside
    a write of its own first attempt (two writers of one document lose
    increments on FerretDB).
    """
    errors: list[BaseException] = []

    async def one(item: T) -> None:
        async with slots:
            if errors:
                return
            try:
                await work(item)
            except Exception as exc:
                errors.append(exc)

    await asyncio.gather(*(one(item) for item in items))
    if errors:
        raise errors[0]


async def all_ended(*writes: Awaitable[T]) -> list[T]:
    """Run ``writes`` at once; their results, or the first error once every one has ended."""
    outcomes = await asyncio.gather(*writes, return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    return cast(list[T], outcomes)


async def by_ids(
    coll: Collection, ids: Iterable[Any], projection: dict[str, Any], slots: asyncio.Semaphore
) -> dict[Any, dict[str, Any]]:
    """The documents of these ``_id``s that exist, one equality query each (never an ``$in``)."""
    found: dict[Any, dict[str, Any]] = {}

    async def one(doc_id: Any) -> None:
        doc = await coll.find_one({"_id": doc_id}, projection)
        if doc is not None:
            found[doc_id] = doc

    await each(ids, one, slots)
    return found


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


def _operators(
    mark: str, offset: int, inc: dict[str, int], delta: Delta, lists: Lists | None = None
) -> dict[str, Any]:
    """The update; a bounded list is set whole when its current entries are known (``lists``),
    else the newest of the delta's are pushed and the list is cut the next time it is set."""
    update: dict[str, Any] = {"$set": {mark: offset}}
    if inc:
        update["$inc"] = dict(inc)
    if delta.min:
        update["$min"] = dict(delta.min)
    if delta.max:
        update["$max"] = dict(delta.max)
    for name, entries in delta.lists.items():
        if lists is not None and name in lists:
            update["$set"][name] = newest([*lists[name], *entries], LIST_KEPT)
        else:
            update.setdefault("$push", {})[name] = {"$each": newest(entries, LIST_KEPT)}
    return update


def _blind(
    doc_id: str,
    todo: list[Contribution],
    skeleton: dict[str, Any],
    bounded: tuple[str, ...],
    lists: Lists | None = None,
) -> tuple[dict[str, Any], dict[str, Any], Delta] | None:
    """The guarded upsert of ``todo`` (one partition's) for a document not read; None if it needs a read.

    The filter matches only while none of ``todo`` is held (the mark is
    before the first of them, or absent) and every bounded label in them is
    known already; a document that does not exist yet is created with them.
    """
    if len(todo) == 1:
        delta = todo[0].delta  # read only below: every update is built from copies
    else:
        delta = Delta()
        for c in todo:
            delta.merge(c.delta)
    labels: dict[str, int] = defaultdict(int)
    for name in delta.inc:
        prefix, _, _ = name.partition(".")
        if prefix in bounded:
            labels[prefix] += 1
    if any(n > MAX_LABELS for n in labels.values()):
        return None  # which of them fold into (other) depends on the labels the document has
    mark = f"applied.p{todo[0].partition}"
    first = min(c.offset if c.first is None else c.first for c in todo)
    guard: dict[str, Any] = {"_id": doc_id, "$or": [{mark: {"$lt": first}}, {mark: {"$exists": False}}]}
    guard.update({name: {"$exists": True} for name in delta.inc if name.partition(".")[0] in bounded})
    update = _operators(mark, max(c.offset for c in todo), delta.inc, delta, lists)
    written = [path for op in update.values() for path in op]
    born = {
        k: v
        for k, v in skeleton.items()
        if not any(path == k or path.startswith(f"{k}.") or k.startswith(f"{path}.") for path in written)
    }
    if born:
        update["$setOnInsert"] = born
    return guard, update, delta


def _exact(
    doc: dict[str, Any], todo: list[Contribution], bounded: tuple[str, ...]
) -> tuple[dict[str, Any], dict[str, Any], Delta] | None:
    """The update of a read document with what it lacks of ``todo``, guarded by the mark it has."""
    mark = f"applied.p{todo[0].partition}"
    applied = doc.get("applied", {}).get(f"p{todo[0].partition}")
    missing = [c for c in todo if applied is None or c.offset > applied]
    if not missing:
        return None
    delta = Delta()
    for c in missing:
        delta.merge(c.delta)
    guard: dict[str, Any] = {"_id": doc["_id"], mark: applied if applied is not None else {"$exists": False}}
    inc = _bound_labels(delta.inc, doc, bounded)
    # the document was read whole (or its lists projected): its lists are set whole
    have = {name: list(doc.get(name) or []) for name in delta.lists}
    update = _operators(mark, max(c.offset for c in missing), inc, delta, have)
    return guard, update, delta


async def _write(
    coll: Collection, guard: dict[str, Any], update: dict[str, Any], *, upsert: bool, return_after: bool
) -> tuple[bool, dict[str, Any] | None]:
    """Run one guarded update: (matched or created, the document after it when asked)."""
    if return_after:
        after = await coll.find_one_and_update(
            guard, update, upsert=upsert, return_document=ReturnDocument.AFTER
        )
        return after is not None, after
    outcome = await coll.update_one(guard, update, upsert=upsert)
    return outcome.matched_count == 1 or outcome.upserted_id is not None, None


async def _apply_doc(
    coll: Collection,
    doc_id: str,
    contributions: list[Contribution],
    skeleton: dict[str, Any],
    bounded: tuple[str, ...],
    return_after: bool,
    lists: Lists | None = None,
) -> tuple[Delta, dict[str, Any] | None] | None:
    """Apply one document's contributions, one partition's at a time; return what was applied now."""
    by_partition: dict[int, list[Contribution]] = defaultdict(list)
    for c in contributions:
        by_partition[c.partition].append(c)
    applied_now: Delta | None = None
    after: dict[str, Any] | None = None
    unread: list[int] = []
    for partition in sorted(by_partition):
        blind = _blind(doc_id, by_partition[partition], skeleton, bounded, lists)
        if blind is None:
            unread.append(partition)
            continue
        guard, update, delta = blind
        try:
            _, after = await _write(coll, guard, update, upsert=True, return_after=return_after)
        except DuplicateKeyError:  # the document holds some of them, or lacks a label: read it
            unread.append(partition)
            continue
        finally:
            lists = None  # what the caller knew of the lists is past once a statement may have run
        applied_now = applied_now or Delta()
        applied_now.merge(delta)
    # a caller that wants the document after its update gets it even when it held all of them already
    listed = {name for c in contributions for name in c.delta.lists}
    projection = None if return_after else {"applied": 1, **{p: 1 for p in (*bounded, *listed)}}
    attempts = 0
    while unread:
        attempts += 1
        if attempts > MAX_ATTEMPTS + len(by_partition):
            raise RuntimeError(f"counters of {doc_id!r} kept changing under {MAX_ATTEMPTS} attempts")
        doc = await coll.find_one({"_id": doc_id}, projection)
        if doc is None:
            try:
                await coll.insert_one({"_id": doc_id, **skeleton})
            except DuplicateKeyError:
                pass
            continue
        exact = _exact(doc, one_by_one(by_partition[unread[0]]), bounded)
        if exact is None:
            after = doc if return_after else after
            unread.pop(0)
            continue
        guard, update, delta = exact
        matched, written = await _write(coll, guard, update, upsert=False, return_after=return_after)
        if matched:  # else another writer moved the mark: read again
            after = written
            applied_now = applied_now or Delta()
            applied_now.merge(delta)
            unread.pop(0)
    if applied_now is None and after is None:
        return None
    return applied_now or Delta(), after


async def apply(
    coll: Collection,
    contributions: list[Contribution],
    *,
    skeleton: dict[str, dict[str, Any]] | None = None,
    bounded: tuple[str, ...] = (),
    return_after: bool = False,
    slots: asyncio.Semaphore | None = None,
    lists: Mapping[str, Lists] | None = None,
) -> dict[str, tuple[Delta, dict[str, Any] | None]]:
    """Apply each contribution exactly once; return per document the delta applied now.

    ``skeleton`` gives the fields of a document that does not exist yet.
    With ``return_after`` the document after its update is returned too
    (for threshold crossings and top IPs), also for a document that held
    every contribution already (with an empty delta). ``slots`` bounds the statements in flight,
    shared with the caller's other writes (``IN_FLIGHT`` by default). ``lists`` gives, per
    document, the current entries of its bounded lists where the caller knows them (see
    ``_operators``).
    """
    by_doc: dict[str, list[Contribution]] = defaultdict(list)
    for c in contributions:
        by_doc[c.doc_id].append(c)
    result: dict[str, tuple[Delta, dict[str, Any] | None]] = {}

    async def one(doc_id: str) -> None:
        applied = await _apply_doc(
            coll,
            doc_id,
            by_doc[doc_id],
            (skeleton or {}).get(doc_id, {}),
            bounded,
            return_after,
            (lists or {}).get(doc_id),
        )
        if applied is not None:
            result[doc_id] = applied

    await each(sorted(by_doc), one, slots or asyncio.Semaphore(IN_FLIGHT))
    return result

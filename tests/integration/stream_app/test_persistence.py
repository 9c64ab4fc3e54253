"""Counters in MongoDB are exact under replay, partial writes and re-sent events."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from failstream.events import FailedRequest, new_event_id
from failstream.settings import Settings
from failstream.stream_app.mongo import failures, guarded_counts, seconds
from failstream.stream_app.mongo.client import connect, ensure_indexes
from failstream.stream_app.mongo.failures import (
    Read,
    countable,
    ip_contribution,
    persist_failures,
    recent_entry,
)
from failstream.stream_app.mongo.retention import sweep_failures

pytestmark = pytest.mark.integration

T0 = 1_800_000_000_000


def batch(n: int, offset0: int = 0) -> list[Read]:
    return [
        Read(
            FailedRequest(
                event_id=new_event_id(),
                ts=T0 + i * 1000,
                service="demo",
                ip=f"10.5.0.{i % 3}",
                method="POST",
                route="/v1.2/login",
                status=401,
                reason="invalid_token",
            ),
            partition=i % 2,
            offset=offset0 + i,
        )
        for i in range(n)
    ]


async def totals(db: Any) -> tuple[int, dict[str, int], int]:
    by_ip = {d["_id"]: d["total"] async for d in db.ip_stats.find({}, {"total": 1})}
    minutes = sum([d["total"] async for d in db.minute_counts.find({})])
    return await db.failures.count_documents({}), by_ip, minutes


async def test_replaying_batches_changes_no_number_and_crash_between_writes_loses_none(
    settings: Settings, db: Any
) -> None:
    adb = connect(settings)
    await ensure_indexes(adb)
    first, second = batch(30), batch(30, offset0=100)
    await persist_failures(adb, first)
    assert await totals(adb) == (30, {"10.5.0.0": 10, "10.5.0.1": 10, "10.5.0.2": 10}, 30)

    await persist_failures(adb, first)  # a replay from the start
    assert await totals(adb) == (30, {"10.5.0.0": 10, "10.5.0.1": 10, "10.5.0.2": 10}, 30)

    # crash after the raw insert and the per-IP update, before the minute counts
    todo = await countable(adb, second)
    await guarded_counts.apply(adb.ip_stats, [ip_contribution(r) for r in todo], skeleton={})
    await persist_failures(adb, second)  # the redelivery finishes what is missing, once
    assert await totals(adb) == (60, {"10.5.0.0": 20, "10.5.0.1": 20, "10.5.0.2": 20}, 60)

    # the producer re-sent an event: same event_id, new offset -> counted once
    resent = Read(second[0].event, partition=0, offset=500)
    await persist_failures(adb, [resent])
    assert await totals(adb) == (60, {"10.5.0.0": 20, "10.5.0.1": 20, "10.5.0.2": 20}, 60)

    doc = await adb.ip_stats.find_one({"_id": "10.5.0.0"})
    assert doc["routes"] == {"POST /v1\uff0e2/login": 20}  # a dot cannot split the field name
    assert doc["reasons"] == {"invalid_token": 20} and doc["statuses"] == {"401": 20}
    await adb.client.close()


async def test_a_redelivered_batch_longer_than_the_first_attempt_counts_each_failure_once(
    settings: Settings, db: Any
) -> None:
    # the batch's failures of an IP are written summed; a document holding some of them gets the rest
    adb = connect(settings)
    await ensure_indexes(adb)
    reads = batch(60)
    await persist_failures(adb, reads[:20])
    await persist_failures(adb, reads)  # after a crash: the first 20 are counted already
    assert await totals(adb) == (60, {"10.5.0.0": 20, "10.5.0.1": 20, "10.5.0.2": 20}, 60)
    doc = await adb.ip_stats.find_one({"_id": "10.5.0.1"})
    assert doc["reasons"] == {"invalid_token": 20} and doc["routes"] == {"POST /v1\uff0e2/login": 20}
    ts = [r.event.ts for r in reads if r.event.ip == "10.5.0.1"]
    assert (doc["first_seen"], doc["last_seen"]) == (min(ts), max(ts))
    assert sorted(doc["recent"]) == sorted(
        recent_entry(r.event.ts, r.event.event_id) for r in reads if r.event.ip == "10.5.0.1"
    )
    await adb.client.close()


async def test_a_batch_inserted_in_parts_tells_redeliveries_from_resent_copies_in_each_part(
    settings: Settings, db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(failures, "SPLIT_FROM", 10)  # 40 failures: two inserts of 20 at once
    inserts: list[int] = []
    one_insert = failures._duplicates

    async def counted(coll: Any, docs: list[dict[str, Any]], base: int) -> set[int]:
        inserts.append(len(docs))
        return await one_insert(coll, docs, base)

    monkeypatch.setattr(failures, "_duplicates", counted)
    adb = connect(settings)
    await ensure_indexes(adb)
    reads = batch(40)
    await countable(adb, reads[1:3] + reads[25:28])  # a crash after the raw insert: redelivered below
    # the producer's re-sends, stored first from other offsets: one in each part
    await countable(adb, [Read(reads[i].event, partition=0, offset=500 + i) for i in (5, 35)])
    inserts.clear()
    due = await countable(adb, reads)
    assert inserts == [20, 20]
    assert [r.offset for r in due] == [r.offset for r in reads if r.offset not in (5, 35)]
    await persist_failures(adb, reads)
    # the two re-sent copies (both of 10.5.0.2) were counted for nothing; the rest once each
    assert await totals(adb) == (40, {"10.5.0.0": 14, "10.5.0.1": 13, "10.5.0.2": 11}, 38)
    await adb.client.close()


async def test_refused_requests_are_stored_and_counted_but_never_take_a_minute_to_a_spike(
    settings: Settings, db: Any
) -> None:
    adb = connect(settings)
    await ensure_indexes(adb)
    refused = [
        Read(r.event.model_copy(update={"reason": "blocked", "status": 429}), r.partition, r.offset)
        for r in batch(30)
    ]
    totals_seen = await persist_failures(adb, refused)
    assert await totals(adb) == (30, {"10.5.0.0": 10, "10.5.0.1": 10, "10.5.0.2": 10}, 30)
    assert [(t.before, t.after) for t in totals_seen] == [(0, 0)]  # the spike rule sees none of them

    counted = await persist_failures(adb, batch(5, offset0=100))
    assert [(t.before, t.after, t.replayed) for t in counted] == [(0, 5, False)]
    replay = await persist_failures(adb, refused)  # a replay of refused ones is no replayed spike
    assert [t.replayed for t in replay] == [False]
    await adb.client.close()


async def test_persisters_of_different_partitions_writing_the_same_minutes_at_once_lose_no_count(
    settings: Settings, db: Any
) -> None:
    """FerretDB loses one of two concurrent updates of a document; minutes must not share one."""
    writers = [connect(settings), connect(settings)]
    await ensure_indexes(writers[0])
    events = batch(400)  # partitions 0 and 1 alternate, 400 s: seven shared minutes

    async def persister(adb: Any, partition: int) -> None:
        mine = [r for r in events if r.partition == partition]
        for i in range(0, len(mine), 5):
            await persist_failures(adb, mine[i : i + 5])

    await asyncio.gather(persister(writers[0], 0), persister(writers[1], 1))
    assert (await totals(writers[0]))[2] == 400
    for adb in writers:
        await adb.client.close()


async def test_retention_sweep_deletes_only_failures_older_than_the_retention(
    settings: Settings, db: Any
) -> None:
    adb = connect(settings)
    day = 86_400_000
    await adb.failures.insert_many([{"_id": "old", "ts": T0 - 31 * day}, {"_id": "new", "ts": T0 - 29 * day}])
    assert await sweep_failures(adb, T0, retention_days=30) == 1
    assert [d["_id"] async for d in adb.failures.find({})] == ["new"]
    await adb.client.close()


def _routes(
    doc_id: str, partition: int, offsets: range, route: str = "GET /a"
) -> list[guarded_counts.Contribution]:
    out = []
    for offset in offsets:
        delta = guarded_counts.Delta()
        delta.count("total")
        delta.count(f"routes.{route}")
        out.append(guarded_counts.Contribution(doc_id, partition, offset, delta))
    return out


async def test_a_redelivery_longer_than_the_first_attempt_adds_only_the_messages_past_the_mark(
    settings: Settings, db: Any
) -> None:
    adb = connect(settings)
    coll = adb.ip_stats
    applied = await guarded_counts.apply(coll, _routes("a", 0, range(0, 10)), skeleton={"a": {"total": 0}})
    assert applied["a"][0].inc["total"] == 10
    # the replay holds offsets 5-14: 5-9 are in the document already, 10-14 are not
    applied = await guarded_counts.apply(coll, _routes("a", 0, range(5, 15)), bounded=("routes",))
    assert applied["a"][0].inc["total"] == 5
    assert await guarded_counts.apply(coll, _routes("a", 0, range(0, 15)), bounded=("routes",)) == {}
    doc = await coll.find_one({"_id": "a"})
    assert (doc["total"], doc["routes"], doc["applied"]) == (15, {"GET /a": 15}, {"p0": 14})
    await adb.client.close()


async def test_bounded_labels_new_to_a_document_fold_into_other_past_the_limit(
    settings: Settings, db: Any
) -> None:
    adb = connect(settings)
    coll = adb.ip_stats
    limit = guarded_counts.MAX_LABELS
    for i in range(limit + 2):  # one label per batch: each is new to the document
        await guarded_counts.apply(coll, _routes("b", 0, range(i, i + 1), f"GET /{i}"), bounded=("routes",))
    many = [c for i in range(limit + 3) for c in _routes("c", 1, range(i, i + 1), f"GET /{i}")]
    await guarded_counts.apply(coll, many, bounded=("routes",))  # more labels than the limit in one batch
    for doc_id, n in (("b", limit + 2), ("c", limit + 3)):
        doc = await coll.find_one({"_id": doc_id})
        assert doc["total"] == n and sum(doc["routes"].values()) == n
        assert len(doc["routes"]) == limit + 1 and doc["routes"][guarded_counts.OTHER] == n - limit
    await adb.client.close()


async def test_each_minute_counts_its_failures_per_second_once_under_replay(
    settings: Settings, db: Any
) -> None:
    """What the API's walk reads (``api.failure_walk``): the seconds holding failures, exactly."""
    adb = connect(settings)
    await ensure_indexes(adb)
    reads = [
        Read(r.event.model_copy(update={"ts": r.event.ts + i * 7 % 1000}), r.partition, r.offset)
        for i, r in enumerate(batch(150))
    ]
    await persist_failures(adb, reads[:40])
    await persist_failures(adb, reads)  # a redelivery longer than the first attempt
    await persist_failures(adb, reads[100:])  # and a replay of its end

    expected: dict[tuple[int, int, str], int] = {}
    for r in reads:
        key = (
            failures.minute_of(r.event.ts),
            r.partition,
            seconds.counter_name(r.event.ts).partition(".")[2],
        )
        expected[key] = expected.get(key, 0) + 1
    found: dict[tuple[int, int, str], int] = {}
    async for doc in adb.minute_counts.find({"source": "failures"}):
        assert sum(doc[seconds.FIELD].values()) == doc["total"]
        for name, n in doc[seconds.FIELD].items():
            found[(doc["minute"], doc["partition"], name)] = n
    assert found == expected
    stored = {d["_id"]: d async for d in adb.failures.find({})}
    assert all(stored[r.event.event_id][seconds.SECOND] == r.event.ts - r.event.ts % 1000 for r in reads)
    await adb.client.close()

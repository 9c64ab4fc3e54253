"""Each IP's ``ip_stats`` lists its newest failures, bounded, exact under replay and out-of-order times."""

from __future__ import annotations

import random
from typing import Any

import pytest

from failstream.events import FailedRequest, new_event_id
from failstream.settings import Settings
from failstream.stream_app.mongo.client import connect, ensure_indexes
from failstream.stream_app.mongo.failures import RECENT, Read, RecentLists, persist_failures, recent_entry
from failstream.stream_app.mongo.guarded_counts import LIST_KEPT

pytestmark = pytest.mark.integration

T0 = 1_800_000_000_000
IP = "10.9.0.1"


def reads(n: int, offset0: int, rng: random.Random, partition: int = 0) -> list[Read]:
    """Failures of one IP whose times go back and forth (late events, a producer's clock)."""
    return [
        Read(
            FailedRequest(
                event_id=new_event_id(),
                ts=T0 + (offset0 + i) * 1000 + rng.randrange(-30_000, 30_000),
                service="demo",
                ip=IP,
                method="POST",
                route="/login",
                status=401,
                reason="invalid_token",
            ),
            partition=partition,
            offset=offset0 + i,
        )
        for i in range(n)
    ]


async def newest_stored(db: Any, n: int) -> list[str]:
    docs = await db.failures.find({"ip": IP}, {"ts": 1}).to_list(None)
    return sorted((recent_entry(d["ts"], d["_id"]) for d in docs), reverse=True)[:n]


@pytest.mark.parametrize("memory", [True, False], ids=["with the persister's memory", "without"])
async def test_the_list_holds_the_newest_failures_and_stays_bounded_over_many_batches(
    settings: Settings, db: Any, memory: bool
) -> None:
    adb = connect(settings)
    await ensure_indexes(adb)
    rng = random.Random(5)
    recent = RecentLists() if memory else None
    longest = 0
    offset = 0
    for size in (3, 90, 1, 45, 200, 7, 61, 2, 150, 30):
        await persist_failures(adb, reads(size, offset, rng), recent)
        offset += size
        doc = await adb.ip_stats.find_one({"_id": IP})
        entries = doc[RECENT]
        longest = max(longest, len(entries))
        assert len(set(entries)) == len(entries)
        # whatever its length, the list's newest entries are the IP's newest failures
        assert sorted(entries, reverse=True)[:LIST_KEPT] == await newest_stored(adb, LIST_KEPT)
    assert doc["total"] == offset
    # pushed, the list grows by at most a batch's newest LIST_KEPT before it is cut: set whole by
    # the next statement (memory) or by a statement of its own past twice the bound
    assert longest <= (2 * LIST_KEPT if memory else 3 * LIST_KEPT)
    await adb.client.close()


async def test_a_replayed_batch_and_a_resent_event_add_nothing_to_the_list(
    settings: Settings, db: Any
) -> None:
    adb = connect(settings)
    await ensure_indexes(adb)
    rng = random.Random(6)
    recent = RecentLists()
    first, second = reads(40, 0, rng), reads(40, 40, rng)
    await persist_failures(adb, first, recent)
    await persist_failures(adb, second, recent)
    before = (await adb.ip_stats.find_one({"_id": IP}))[RECENT]
    await persist_failures(adb, second, recent)  # a replay after a crash
    await persist_failures(adb, [Read(first[0].event, partition=0, offset=900)], recent)  # a re-send
    after = await adb.ip_stats.find_one({"_id": IP})
    assert after["total"] == 80
    assert sorted(after[RECENT]) == sorted(before)
    assert sorted(after[RECENT], reverse=True)[:LIST_KEPT] == await newest_stored(adb, LIST_KEPT)
    await adb.client.close()


async def test_a_batch_from_two_partitions_keeps_both_partitions_entries(settings: Settings, db: Any) -> None:
    adb = connect(settings)
    await ensure_indexes(adb)
    rng = random.Random(7)
    recent = RecentLists()
    await persist_failures(adb, reads(90, 0, rng), recent)
    await persist_failures(adb, reads(90, 90, rng), recent)  # pushed past the bound: remembered
    assert len((await adb.ip_stats.find_one({"_id": IP}))[RECENT]) > LIST_KEPT
    both = reads(10, 300, rng, partition=0) + reads(10, 400, rng, partition=1)
    await persist_failures(adb, both, recent)
    doc = await adb.ip_stats.find_one({"_id": IP})
    assert doc["total"] == 200
    assert sorted(doc[RECENT], reverse=True)[:LIST_KEPT] == await newest_stored(adb, LIST_KEPT)
    await adb.client.close()

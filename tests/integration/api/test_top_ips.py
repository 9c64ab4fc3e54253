"""A window's top IPs come from the minute documents' lists, ranked as a scan of ``ip_stats`` would."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from failstream.api.read_model import MINUTE_MS, floor_to
from failstream.events import FailedRequest, now_ms
from failstream.settings import Settings
from failstream.stream_app.mongo.client import connect, ensure_indexes
from failstream.stream_app.mongo.failures import Read, persist_failures
from tests.integration.api.support import failure, get

pytestmark = pytest.mark.integration

HOUR_MS = 3_600_000


def _batches(settings: Settings, batches: list[list[tuple[FailedRequest, int]]], offset0: int = 0) -> None:
    """Persist each batch as the persister does, (event, partition) each, offsets rising per partition."""

    async def run() -> None:
        db = connect(settings)
        offsets = dict.fromkeys((0, 1), offset0 - 1)
        try:
            await ensure_indexes(db)
            for batch in batches:
                reads = []
                for event, partition in batch:
                    offsets[partition] = offsets.get(partition, -1) + 1
                    reads.append(Read(event, partition, offsets[partition]))
                await persist_failures(db, reads)
        finally:
            await db.client.close()

    asyncio.run(run())


def _scan(db: Any, start: int) -> list[tuple[str, int, str]]:
    """What the summary ranked before the lists: IPs seen since ``start`` by all-time total."""
    docs = db.ip_stats.find({"last_seen": {"$gte": start}}).sort([("total", -1), ("_id", 1)]).limit(10)
    return [(d["_id"], d["total"], "window" if d["first_seen"] >= start else "all_time") for d in docs]


def _summary_top(api_url: str, settings: Settings) -> list[tuple[str, int, str]]:
    body = get(api_url, "/api/v1/stats/summary", settings, window="1h").json()
    return [(t["ip"], t["count"], t["count_scope"]) for t in body["top_ips"]]


def _workload(now: int) -> list[list[tuple[FailedRequest, int]]]:
    inside, later, before = now - 40 * 60_000, now - 20 * 60_000, now - 3 * HOUR_MS
    first: list[tuple[FailedRequest, int]] = []
    # twelve IPs of one minute with 6..17 failures: a list of ten keeps only the top ten
    for k in range(12):
        first += [(failure(inside + i, f"198.51.100.{k}", i), 0) for i in range(6 + k)]
    # A's five failures in that minute would not make its list...
    first += [(failure(inside + 100 + i, "192.0.2.1", i), 0) for i in range(5)]
    # D failed before the window and more inside it, on another partition
    first += [(failure(before + i, "192.0.2.4", i), 1) for i in range(2)]
    first += [(failure(later + i, "192.0.2.4", i), 1) for i in range(30)]
    # C failed only before the window: not a top IP of it whatever its total
    first += [(failure(before + i, "192.0.2.3", i), 1) for i in range(50)]
    # ...but 20 more arrive late, stamped before the window: A's total is 25, its last failure
    # still in the window's minute, where its new total has to be entered
    second = [(failure(before + 500 + i, "192.0.2.1", i), 0) for i in range(20)]
    # E's clock runs ahead: its failures are stamped after the summary's end
    second += [(failure(now + 120_000 + i, "192.0.2.5", i), 1) for i in range(19)]
    return [first, second]


def test_the_window_top_ips_from_minute_lists_equal_the_scan_of_ip_stats_they_replace(
    api_settings: Settings, api_url: str, db: Any
) -> None:
    now = now_ms()
    _batches(api_settings, _workload(now))
    start = floor_to(now - HOUR_MS, MINUTE_MS)

    top = _summary_top(api_url, api_settings)

    assert top == _scan(db, start)
    assert top[:3] == [
        ("192.0.2.4", 32, "all_time"),
        ("192.0.2.1", 25, "all_time"),
        ("192.0.2.5", 19, "window"),
    ]
    assert "192.0.2.3" not in {ip for ip, _, _ in top}
    # the ranking came from the lists (no minute was born without one), each of ten at most
    minutes = list(db.minute_counts.find({"source": "failures"}))
    assert all(doc["top_ips_kept"] is True and len(doc.get("top_ips", [])) <= 10 for doc in minutes)


def test_a_replayed_batch_leaves_the_minute_lists_and_the_top_ips_as_they_were(
    api_settings: Settings, api_url: str, db: Any
) -> None:
    now = now_ms()
    first = _workload(now)[0]

    async def twice() -> None:
        database = connect(api_settings)
        try:
            await ensure_indexes(database)
            reads = [Read(e, p, i) for i, (e, p) in enumerate(first)]
            await persist_failures(database, reads)
            await persist_failures(database, reads)  # a redelivery after a crash
        finally:
            await database.client.close()

    asyncio.run(twice())
    lists = {d["_id"]: d["top_ips"] for d in db.minute_counts.find({"source": "failures"})}
    asyncio.run(twice())

    assert {d["_id"]: d["top_ips"] for d in db.minute_counts.find({"source": "failures"})} == lists
    assert _summary_top(api_url, api_settings) == _scan(db, floor_to(now - HOUR_MS, MINUTE_MS))


def test_a_window_holding_a_minute_born_before_the_lists_ranks_by_the_scan(
    api_settings: Settings, api_url: str, db: Any
) -> None:
    now = now_ms()
    _batches(api_settings, _workload(now)[:1])
    # the minute of the twelve IPs as an older persister left it: no list
    db.minute_counts.update_many(
        {"source": "failures", "partition": 0}, {"$unset": {"top_ips": "", "top_ips_kept": ""}}
    )
    _batches(api_settings, [[(failure(now - 40 * 60_000 + 900, "192.0.2.9", 0), 0)]], offset0=10_000)

    top = _summary_top(api_url, api_settings)

    assert any(
        e["ip"] == "192.0.2.9" for d in db.minute_counts.find({"partition": 0}) for e in d.get("top_ips", [])
    )
    assert top == _scan(db, floor_to(now - HOUR_MS, MINUTE_MS))
    assert ("198.51.100.11", 17, "window") in top

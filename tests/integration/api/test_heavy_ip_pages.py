"""An attacker's page costs what anyone's does: its newest failures come from its ``ip_stats`` list.

FerretDB sorts and limits in memory after fetching every match, so the query
by ``ip`` reads all of an IP's stored failures (docs/benchmarks.md), and the
IP on-call opens from an alert is the one with the most.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from failstream.api import failure_pages, lookups
from failstream.api.params import ip_match
from failstream.events import now_ms
from failstream.settings import Settings
from tests.integration.api.support import Finds, failure, get, persist

pytestmark = pytest.mark.integration

HEAVY, LIGHT = "198.51.100.50", "198.51.100.51"


def stored_newest(db: Any, ip: str, n: int) -> list[tuple[int, str]]:
    docs = db.failures.find({"ip": ip}, {"ts": 1}).sort([("ts", -1), ("_id", -1)]).limit(n)
    return [(d["ts"], d["_id"]) for d in docs]


def seed(settings: Settings) -> None:
    now = now_ms()
    # several batches, times not in offset order (late events), many failures at the same ms
    for k in range(4):
        persist(
            settings, [failure(now - 5_000 + (i * 37 % 400) // 3, HEAVY, i) for i in range(100)], 1000 * k
        )
    persist(settings, [failure(now - 100 * i, LIGHT, i) for i in range(5)], offset0=9000)


def test_a_heavy_ips_page_and_first_failures_page_are_its_newest_failures(
    api_settings: Settings, api_url: str, db: Any
) -> None:
    seed(api_settings)
    assert db.ip_stats.find_one({"_id": HEAVY})["total"] > lookups.LISTED_ABOVE

    detail = get(api_url, f"/api/v1/ips/{HEAVY}", api_settings, recent=20).json()
    assert [(f["ts"], f["id"]) for f in detail["recent_failures"]] == stored_newest(db, HEAVY, 20)

    first = get(api_url, "/api/v1/failures", api_settings, ip=HEAVY, limit=50).json()
    assert [(f["ts"], f["id"]) for f in first["items"]] == stored_newest(db, HEAVY, 50)
    # the next page is the query by ip behind the first page's cursor: nothing skipped or repeated
    second = get(
        api_url, "/api/v1/failures", api_settings, ip=HEAVY, limit=50, cursor=first["next_cursor"]
    ).json()
    assert [(f["ts"], f["id"]) for f in second["items"]] == stored_newest(db, HEAVY, 100)[50:]

    light = get(api_url, "/api/v1/failures", api_settings, ip=LIGHT, limit=3).json()
    assert [(f["ts"], f["id"]) for f in light["items"]] == stored_newest(db, LIGHT, 3)
    assert light["next_cursor"] is not None


def test_only_an_ip_with_few_failures_is_read_by_the_query_by_ip(api_settings: Settings, db: Any) -> None:
    seed(api_settings)
    finds = Finds()

    async def pages() -> dict[str, list[dict[str, Any]]]:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            api_settings.mongo_uri.get_secret_value(), event_listeners=[finds]
        )
        adb = client[api_settings.mongo_db]
        out = {}
        for ip in (HEAVY, LIGHT):
            stats = await adb.ip_stats.find_one({"_id": ip})
            out[ip], _ = await failure_pages.ip_page(
                adb, ip_match(ip), stats, None, None, None, 20, now=now_ms()
            )
        await client.close()
        return out

    found = asyncio.run(pages())
    assert [(d["ts"], d["_id"]) for d in found[HEAVY]] == stored_newest(db, HEAVY, 20)
    assert [(d["ts"], d["_id"]) for d in found[LIGHT]] == stored_newest(db, LIGHT, 20)
    by_ip = [f for f in finds.filters if "ip" in f]
    assert by_ip == [{"ip": LIGHT}]  # the heavy IP: reads by _id, no query by ip
    assert sum("_id" in f for f in finds.filters) == 21  # one more says whether a next page exists

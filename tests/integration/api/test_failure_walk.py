"""Pages of failures read second by second list exactly what the query over all failures would.

Every filter, across busy minutes, seconds shared by many failures and a
quiet hour, with and without a cursor; a walk out of time ends a short page
that the next resumes; and no read of ``failures`` lacks an equality on its
indexed second (FerretDB would fetch every stored failure for it).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from failstream.api import failure_pages, failure_walk
from failstream.api.pagination import decode
from failstream.events import FailedRequest, now_ms
from failstream.settings import Settings
from failstream.stream_app.mongo import seconds
from tests.integration.api.support import Finds, failure, get, persist

pytestmark = pytest.mark.integration

HEAVY = "198.51.100.60"


def seed(settings: Settings) -> list[FailedRequest]:
    """Three minutes (one busy second), a quiet hour and a half, two more; an IP past the query by ip."""
    now = now_ms()
    recent = [
        failure(now - 5_000 - (i * 911) % 170_000, f"192.0.2.{i % 7}", i, f"svc{i % 3}") for i in range(700)
    ]
    # many failures of one millisecond: a page boundary inside them is exact
    recent += [failure(now - 90_000, "192.0.2.99", i, "svc1") for i in range(40)]
    # a busy second, read tenth by tenth
    busy = seconds.second_of(now - 30_000)
    recent += [
        failure(busy + (i * 7) % 1000, f"192.0.2.{i % 5}", i, f"svc{i % 3}")
        for i in range(failure_walk.BUSY_SECOND + 250)
    ]
    heavy = [
        failure(now - 20_000 - (i * 37) % 60_000, HEAVY, i, "svc0")
        for i in range(failure_pages.READ_WHOLE_UP_TO + 50)
    ]
    old = [
        failure(now - 6_000_000 - (i * 613) % 100_000, f"192.0.2.{i % 7}", i, f"svc{i % 2}")
        for i in range(300)
    ]
    events = recent + heavy + old
    persist(settings, events)
    return events


def newest_first(events: list[FailedRequest]) -> list[tuple[int, str]]:
    return sorted(((e.ts, e.event_id) for e in events), reverse=True)


def all_pages(url: str, settings: Settings, limit: int, **filters: Any) -> list[tuple[int, str]]:
    seen: list[tuple[int, str]] = []
    cursor = None
    while True:
        params = {"limit": limit, **filters, **({"cursor": cursor} if cursor else {})}
        body = get(url, "/api/v1/failures", settings, **params).json()
        seen += [(item["ts"], item["id"]) for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return seen


def test_every_filter_pages_through_exactly_its_failures_newest_first(
    api_settings: Settings, api_url: str, db: Any
) -> None:
    events = seed(api_settings)
    cases: list[dict[str, Any]] = [
        {},
        {"reason": "rate_limited"},
        {"service": "svc1"},
        {"reason": "forbidden", "service": "svc2"},
        {"ip": HEAVY},
        {"ip": HEAVY, "reason": "missing_token"},
        {"ip": "192.0.2.3", "service": "svc0"},
    ]
    for filters in cases:
        wanted = [e for e in events if all(getattr(e, name) == value for name, value in filters.items())]
        seen = all_pages(api_url, api_settings, 97, **filters)
        assert seen == newest_first(wanted), filters
    # more than its list of newest ids keeps: the entries past those are not the IP's newest
    detail = get(api_url, f"/api/v1/ips/{HEAVY}", api_settings, recent=100).json()
    heavy = newest_first([e for e in events if e.ip == HEAVY])[:100]
    assert [(f["ts"], f["id"]) for f in detail["recent_failures"]] == heavy


def walk(
    settings: Settings, flt: failure_walk.Filter, limit: int, budget_s: float
) -> tuple[list[tuple[int, str]], list[int], Finds]:
    """Every page of ``flt`` from the walk itself; the size of each page; the failures queries."""
    finds = Finds()

    async def pages() -> tuple[list[tuple[int, str]], list[int]]:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            settings.mongo_uri.get_secret_value(), event_listeners=[finds]
        )
        db = client[settings.mongo_db]
        seen: list[tuple[int, str]] = []
        sizes: list[int] = []
        position = None
        while True:
            docs, nxt = await failure_walk.page(db, flt, position, limit, now=now_ms(), budget_s=budget_s)
            seen += [(d["ts"], d["_id"]) for d in docs]
            sizes.append(len(docs))
            if nxt is None:
                await client.close()
                return seen, sizes
            position = decode("failures", nxt)

    seen, sizes = asyncio.run(pages())
    return seen, sizes, finds


def test_a_walk_out_of_time_ends_short_pages_that_the_next_resume_without_loss(
    api_settings: Settings, db: Any
) -> None:
    events = seed(api_settings)
    flt = failure_walk.filter_of(None, "forbidden", None)
    seen, sizes, finds = walk(api_settings, flt, 50, budget_s=0.0)
    assert seen == newest_first([e for e in events if e.reason == "forbidden"])
    assert any(n < 50 for n in sizes[:-1])  # short pages, each with a cursor that went on
    # every read of failures asked for one second or tenth (an equality FerretDB pushes down to its
    # index): the busy second's tenth by tenth
    assert all(isinstance(f.get(seconds.SECOND, f.get(seconds.TENTH)), int) for f in finds.filters)
    assert sum(seconds.TENTH in f for f in finds.filters) == 10
    assert all(f.get("reason") == "forbidden" for f in finds.filters)


def test_a_quiet_store_lists_its_few_failures_on_page_one(api_settings: Settings, db: Any) -> None:
    now = now_ms()
    # a failure a day for a week: the walk lists the minutes at once after a quiet quarter hour
    events = [failure(now - d * 86_400_000 - 3_000, "192.0.2.5", d) for d in range(7)]
    persist(api_settings, events)
    seen, sizes, _ = walk(api_settings, failure_walk.filter_of(None, None, None), 50, budget_s=30.0)
    assert seen == newest_first(events) and sizes == [7]


def test_failures_stored_before_the_seconds_were_counted_stay_listed_on_their_ips_page(
    api_settings: Settings, api_url: str, db: Any
) -> None:
    """After an upgrade: the walk lists what carries a second, also in a minute begun before."""
    now = now_ms()
    old = [failure(now - 7_200_000 - i * 700, "192.0.2.8", i) for i in range(30)]
    persist(api_settings, old)
    # as an earlier persister left them: no second on the failure, none counted in its minute
    db.failures.update_many({}, {"$unset": {seconds.SECOND: "", seconds.TENTH: ""}})
    db.minute_counts.update_many({}, {"$unset": {seconds.FIELD: ""}})
    new = [failure(now - 1_000 - i * 500, "192.0.2.8", i) for i in range(30)]
    same_minute = [failure(old[0].ts + 1, "192.0.2.8", 99)]  # into a minute born before
    persist(api_settings, new + same_minute, offset0=1000)

    assert all_pages(api_url, api_settings, 7) == newest_first(new + same_minute)
    everything = newest_first(old + new + same_minute)
    assert all_pages(api_url, api_settings, 7, ip="192.0.2.8") == everything

"""A page of ``/failures`` during a wave: busy seconds read whole against tenth by tenth (issue 22).

    .venv/bin/python -m benchmarks.busy_seconds [--rates 100,1000,5000] [--seconds 10] [--pages 30]

On a FerretDB of its own on PostgreSQL (``local_store.Store``; a database
of this benchmark's, dropped afterwards), for each rate: ``--seconds``
seconds of failures at that rate stored through the persister's path, then
page one of all failures and of one reason (``failure_walk.page``, 50
items), ``--pages`` times each, alternated between the walk as it is (a
second of more than ``BUSY_SECOND`` failures read tenth by tenth) and the
walk reading every second whole. FerretDB 1.24 decodes, sorts and limits
all that a read matches, so a second's read costs what the second holds.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

from pymongo import AsyncMongoClient

from benchmarks.local_store import Store, bench_failure
from failstream.api import failure_walk
from failstream.events import now_ms
from failstream.stream_app.mongo.client import ensure_indexes
from failstream.stream_app.mongo.failures import Read, persist_failures

DB = "bench_busy_seconds"
BATCH = 16_000


async def _timed(db: Any, flt: failure_walk.Filter, busy_second: int) -> float:
    failure_walk.BUSY_SECOND = busy_second
    began = time.perf_counter()
    docs, _ = await failure_walk.page(db, flt, None, 50, now=now_ms())
    took = (time.perf_counter() - began) * 1000
    assert len(docs) == 50, len(docs)
    return took


async def run(store: Store, rates: list[int], seconds: int, pages: int) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(store.uri)
    await client.drop_database(DB)
    db = client[DB]
    await ensure_indexes(db)
    as_is = failure_walk.BUSY_SECOND
    print("| failures/s | page | seconds whole p50 / p90 ms | tenth by tenth p50 / p90 ms | ratio of p50s |")
    print("|---|---|---|---|---|")
    try:
        for rate in rates:
            for name in ("failures", "minute_counts", "ip_stats"):
                await db[name].delete_many({})
            n, now = rate * seconds, now_ms()
            reads = [
                Read(bench_failure(i, now - seconds * 1000 + i * 1000 // rate, f"10.9.{i % 200}.1"), 0, i)
                for i in range(n)
            ]
            for start in range(0, n, BATCH):
                await persist_failures(db, reads[start : start + BATCH])
            for label, flt in (
                ("all", failure_walk.filter_of(None, None, None)),
                ("reason=forbidden", failure_walk.filter_of(None, "forbidden", None)),
            ):
                whole: list[float] = []
                tenths: list[float] = []
                for _ in range(pages):  # alternated: a change of load on the machine hits both
                    whole.append(await _timed(db, flt, 10**9))
                    tenths.append(await _timed(db, flt, as_is))

                def cell(t: list[float]) -> str:
                    return f"{statistics.median(t):.1f} / {statistics.quantiles(t, n=10)[-1]:.1f}"

                ratio = statistics.median(tenths) / statistics.median(whole)
                print(f"| {rate:,} | {label} | {cell(whole)} | {cell(tenths)} | {ratio:.2f} |")
    finally:
        failure_walk.BUSY_SECOND = as_is
        await client.drop_database(DB)
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rates", default="100,1000,5000")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--pages", type=int, default=30)
    args = parser.parse_args()
    store = Store.start("postgresql")
    try:
        asyncio.run(run(store, [int(r) for r in args.rates.split(",")], args.seconds, args.pages))
    finally:
        store.process.stop(timeout_s=60)


if __name__ == "__main__":
    main()

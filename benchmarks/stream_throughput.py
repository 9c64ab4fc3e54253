"""Events/s through the Faust worker vs a bare aiokafka consumer that only parses JSON.

    .venv/bin/python -m benchmarks.stream_throughput [--events 100000] [--ips 10000]
        [--mongo-events 10000] [--mongo-ips 100] [--rounds 2]

The same topic is read by all, alternating each round: the bare consumer,
a Faust agent that only counts, the worker's own batched path counting
only, and the worker.
The worker's rate comes from its own per-second live counts (full seconds
only); with MongoDB it is events / (first live second .. all counted in ip_stats),
next to what the database takes for the raw failures alone (``insert_many``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer
from pymongo import MongoClient

from benchmarks.stream_common import (
    consumer,
    drop_topics,
    events,
    isolated,
    produce_all,
    start_worker,
    stop_worker,
    wait,
)
from failstream.events import LiveCounts
from failstream.kafka_config import aiokafka_config, ensure_topics
from failstream.settings import Settings


async def bare(settings: Settings, n: int) -> float:
    c = AIOKafkaConsumer(
        settings.topic_failed_requests,
        group_id=f"bench-bare-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **aiokafka_config(settings),
    )
    await c.start()
    try:
        seen, t0 = 0, 0.0
        while seen < n:
            batches = await c.getmany(timeout_ms=500, max_records=2000)
            for records in batches.values():
                if not t0:
                    t0 = time.perf_counter()
                for r in records:
                    orjson.loads(r.value)
                seen += len(records)
        return n / (time.perf_counter() - t0)
    finally:
        await c.stop()


def live_rate(settings: Settings, n: int, timeout_s: float) -> float:
    """Rate from the worker's per-second counts, over its full seconds."""
    c = consumer(settings, settings.topic_live_counts)
    per_second: dict[int, int] = {}
    deadline = time.monotonic() + timeout_s
    try:
        while sum(per_second.values()) < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"worker counted {sum(per_second.values())} of {n}")
            msg = c.poll(0.5)
            if msg is None or msg.error():
                continue
            counts = LiveCounts.model_validate_json(msg.value())
            if counts.failures:
                per_second[counts.ts] = per_second.get(counts.ts, 0) + counts.failures
    finally:
        c.close()
    seconds = sorted(per_second)
    full = seconds[1:-1] or seconds
    return sum(per_second[s] for s in full) / len(full)


def faust_floor_rate(settings: Settings, n: int, floor: str) -> float:
    """Rate of a Faust consumer that only counts, on the same topic (``stream`` or ``direct``)."""
    run = settings.model_copy(
        update={"stream_app_id": f"{settings.stream_app_id}-floor-{uuid.uuid4().hex[:6]}"}
    )
    env = {**os.environ, **run.as_env(), "FAILSTREAM_BENCH_EVENTS": str(n), "FAILSTREAM_BENCH_FLOOR": floor}
    try:
        out = subprocess.run(
            [sys.executable, "-m", "benchmarks.stream_faust_floor", "worker"],
            env=env,
            capture_output=True,
            timeout=180,
            check=False,
        )
    finally:
        drop_topics(run, f"{run.stream_app_id}-")  # its Faust topics: the next round starts clean
    for line in out.stderr.decode(errors="replace").splitlines():
        if line.startswith("FLOOR-RATE "):
            return float(line.split()[1])
    raise RuntimeError(f"floor agent gave no rate: {out.stderr.decode(errors='replace')[-2000:]}")


def worker_rate(settings: Settings, n: int, persist: bool, log_dir: Path) -> float:
    fresh = uuid.uuid4().hex[:6]
    run = settings.model_copy(
        update={
            "stream_app_id": f"{settings.stream_app_id}-{fresh}",
            "topic_live_counts": f"{settings.topic_live_counts}-{fresh}",  # each run counts only itself
            # and publishes its own alerts: on a shared topic a later run would find
            # every alert already published and skip sending them
            "topic_alerts": f"{settings.topic_alerts}-{fresh}",
            "stream_persist": persist,
        }
    )
    ensure_topics(run)
    proc = start_worker(run, log_dir / f"{run.stream_app_id}.log")
    try:
        if not persist:
            return live_rate(run, n, 110)
        client: MongoClient = MongoClient(run.mongo_uri.get_secret_value())
        stats = client[run.mongo_db].ip_stats

        def counted() -> bool:
            return sum(d.get("total", 0) for d in stats.find({}, {"total": 1})) >= n

        wait(lambda: client[run.mongo_db].failures.estimated_document_count() > 0, 60)
        first = time.perf_counter()
        wait(counted, 110)
        rate = n / (time.perf_counter() - first)
        client.drop_database(run.mongo_db)
        client.close()
        return rate
    finally:
        stop_worker(proc)
        # the round's changelogs, alerts and live counts: the next round starts clean
        for prefix in (f"{run.stream_app_id}-", run.topic_alerts, run.topic_live_counts):
            drop_topics(run, prefix)


def mongo_floor(settings: Settings, n: int, batch: int) -> float:
    """Documents/s the database takes for the raw failures alone: ``insert_many`` of the
    same events in the persister's batches, nothing else (the ceiling of any persisting worker)."""
    client: MongoClient = MongoClient(settings.mongo_uri.get_secret_value())
    db = client[f"{settings.mongo_db}_floor"]
    docs = [{"_id": str(uuid.uuid4()), **orjson.loads(v)} for _, v in events(n, 100, seed=3)]
    started = time.perf_counter()
    for i in range(0, n, batch):
        db.failures.insert_many(docs[i : i + batch], ordered=False)
    rate = n / (time.perf_counter() - started)
    client.drop_database(db.name)
    client.close()
    return rate


def _tag(settings: Settings) -> str:
    """The prefix every topic of an ``isolated`` run starts with."""
    return settings.topic_failed_requests.removesuffix("-failed-requests")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--ips", type=int, default=10_000)
    ap.add_argument("--mongo-events", type=int, default=10_000)
    ap.add_argument("--mongo-ips", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    log_dir = Path(tempfile.mkdtemp(prefix="stream-bench-"))

    settings = isolated("tput")
    try:
        _stream_rounds(settings, args, log_dir)
    finally:
        drop_topics(settings, _tag(settings))
    if args.mongo_events:
        mongo = isolated("tput-mongo")
        try:
            _with_mongo(mongo, args, log_dir)
        finally:
            drop_topics(mongo, _tag(mongo))
    print(f"worker logs: {log_dir}")


def _stream_rounds(settings: Settings, args: argparse.Namespace, log_dir: Path) -> None:
    produce_all(settings, events(args.events, args.ips))
    bare_rates: list[float] = []
    floor_rates: list[float] = []
    direct_rates: list[float] = []
    worker_rates: list[float] = []
    for _ in range(args.rounds):
        bare_rates.append(asyncio.run(bare(settings, args.events)))
        floor_rates.append(faust_floor_rate(settings, args.events, "stream"))
        direct_rates.append(faust_floor_rate(settings, args.events, "direct"))
        worker_rates.append(worker_rate(settings, args.events, persist=False, log_dir=log_dir))
    b, f, d, w = (statistics.median(r) for r in (bare_rates, floor_rates, direct_rates, worker_rates))
    print(f"events={args.events} ips={args.ips} partitions={settings.kafka_partitions}")
    print(f"bare aiokafka + orjson.loads:       {[round(r) for r in bare_rates]} ev/s, median {b:,.0f}")
    print(f"Faust agent that only counts:       {[round(r) for r in floor_rates]} ev/s, median {f:,.0f}")
    print(f"worker's batched path, counting:    {[round(r) for r in direct_rates]} ev/s, median {d:,.0f}")
    print(f"worker, no MongoDB:                 {[round(r) for r in worker_rates]} ev/s, median {w:,.0f}")
    print(f"ratio worker/bare: {w / b:.3f}   agent floor/bare: {f / b:.3f}   worker/agent floor: {w / f:.2f}")


def _with_mongo(mongo: Settings, args: argparse.Namespace, log_dir: Path) -> None:
    produce_all(mongo, events(args.mongo_events, args.mongo_ips, seed=2))
    m_bare = asyncio.run(bare(mongo, args.mongo_events))
    m_worker = worker_rate(mongo, args.mongo_events, persist=True, log_dir=log_dir)
    m_floor = mongo_floor(mongo, args.mongo_events, mongo.stream_persist_batch_max)
    print(f"with MongoDB (FerretDB) events={args.mongo_events} ips={args.mongo_ips}:")
    print(f"  bare {m_bare:,.0f} ev/s, worker {m_worker:,.0f} ev/s, ratio {m_worker / m_bare:.3f}")
    print(f"  the database alone, insert_many of the raw failures: {m_floor:,.0f} docs/s")


if __name__ == "__main__":
    main()

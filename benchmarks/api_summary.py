"""p99 of GET /api/v1/stats/summary at 50 concurrent clients over 100,000 stored failures.

    .venv/bin/python -m benchmarks.api_summary [--seconds 10] [--clients 50] [--rate 10]

Seeds a database (``failstream_bench_api``, kept between runs and re-seeded when
its failures would leave the 24 h window) with 100,000 failures and the counters
the stream app keeps for them (``failures``, ``ip_stats``, ``minute_counts``), starts
the API in its own process (uvicorn, one worker, access log off) and runs 50
clients, each on its own keep-alive connection sending one request, waiting for
the full response, then pausing so that it sends ``--rate`` requests a second
(50 dashboards polling, not a closed-loop flood: with no pause the latency is just
50 / throughput, Little's law, whatever the endpoint does). Latency is measured in
the client from writing the request to reading the last body byte. Phases run in
one run: warm-up (2 s, fills the stats cache), then summary and /healthz
alternated in rounds of ``--seconds``/2, and the ratio of their p99 is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from typing import Any

import httpx
from pymongo import MongoClient

from failstream.events import new_event_id, now_ms
from failstream.settings import Settings
from failstream.stream_app.mongo.client import connect, ensure_indexes
from tests.integration.services import free_port

DB = "failstream_bench_api"
N = 100_000
IPS = 2_000
REASONS = ("invalid_token", "missing_token", "expired_token", "rate_limited", "forbidden")


async def _seed(settings: Settings) -> None:
    """Write the documents the stream worker writes (docs/mongodb.md), in bulk.

    The worker's own persister applies per-IP increments with replay guards and
    needs ~25 minutes for 100,000 events on FerretDB; the benchmark only needs
    the stored result, so it inserts the same shapes directly.
    """
    db = connect(settings)
    await ensure_indexes(db)
    now = now_ms()
    span = 50 * 60_000  # 50 minutes: the 1h and 24h windows both hold all of them
    ip_stats: dict[str, dict[str, Any]] = {}
    minutes: dict[int, dict[str, Any]] = {}
    batch: list[dict[str, Any]] = []
    for i in range(N):
        ts = now - (i * span) // N
        ip = f"10.{(i * 7919) % IPS // 250}.{(i * 7919) % 250}.1"
        reason, service = REASONS[i % len(REASONS)], ("demo", "billing", "auth")[i % 3]
        batch.append(
            {"_id": new_event_id(), "ts": ts, "service": service, "ip": ip, "method": "POST",
             "route": "/api/submit", "status": 401, "reason": reason, "user_agent": "bench",
             "request_id": "", "partition": 0, "offset": i}
        )  # fmt: skip
        stats = ip_stats.setdefault(
            ip, {"_id": ip, "total": 0, "reasons": {}, "statuses": {}, "services": {}, "routes": {},
                 "first_seen": ts, "last_seen": ts, "applied": {"p0": i}}
        )  # fmt: skip
        minute = ts - ts % 60_000
        bucket = minutes.setdefault(
            minute, {"_id": f"{minute}:failures", "source": "failures", "minute": minute, "total": 0,
                     "reasons": {}, "statuses": {}, "services": {}, "applied": {"p0": i}}
        )  # fmt: skip
        for doc in (stats, bucket):
            doc["total"] += 1
            doc["reasons"][reason] = doc["reasons"].get(reason, 0) + 1
            doc["statuses"]["401"] = doc["statuses"].get("401", 0) + 1
            doc["services"][service] = doc["services"].get(service, 0) + 1
        stats["routes"]["POST /api/submit"] = stats["total"]
        stats["first_seen"], stats["last_seen"] = min(stats["first_seen"], ts), max(stats["last_seen"], ts)
        if len(batch) == 5_000:
            await db.failures.insert_many(batch, ordered=False)
            batch = []
    await db.ip_stats.insert_many(list(ip_stats.values()))
    await db.minute_counts.insert_many(list(minutes.values()))
    await db.bench_meta.replace_one({"_id": "seed"}, {"n": N, "seeded_at": now}, upsert=True)
    await db.client.close()


def ensure_seeded(settings: Settings) -> None:
    client: MongoClient[dict[str, Any]] = MongoClient(settings.mongo_uri.get_secret_value())
    meta = client[DB].bench_meta.find_one({"_id": "seed"})
    if meta and meta["n"] == N and now_ms() - meta["seeded_at"] < 20 * 3600_000:
        print(f"reusing {DB}: {N} failures seeded {(now_ms() - meta['seeded_at']) // 60_000} min ago")
        return
    client.drop_database(DB)
    t = time.perf_counter()
    asyncio.run(_seed(settings))
    print(f"seeded {N} failures in {time.perf_counter() - t:.0f} s")


class Conn:
    """A minimal HTTP/1.1 keep-alive client: the load generator must cost far less than the server."""

    def __init__(self, host: str, port: int, key: str) -> None:
        self.host, self.port, self.key = host, port, key

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def get(self, path: str) -> int:
        self.writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\nX-API-Key: {self.key}\r\n\r\n".encode()
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        await self.reader.readexactly(length)
        return status


async def run_clients(conns: list[Conn], path: str, seconds: float, rate: float) -> list[float]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def client(conn: Conn, offset: float) -> None:
        await asyncio.sleep(offset)  # spread the clients over one period
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            status = await conn.get(path)
            latencies.append(time.perf_counter() - began)
            assert status == 200, f"{path} answered {status}"
            await asyncio.sleep(max(0.0, 1 / rate - (time.perf_counter() - began)))

    await asyncio.gather(*(client(c, i / len(conns) / rate) for i, c in enumerate(conns)))
    return latencies


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def measure(port: int, key: str, clients: int, seconds: float, rate: float) -> None:
    conns = [Conn("127.0.0.1", port, key) for _ in range(clients)]
    await asyncio.gather(*(c.open() for c in conns))
    summary_path = "/api/v1/stats/summary?window=24h"
    await run_clients(conns, summary_path, 2.0, rate)  # warm-up: cache filled, connections hot
    results: dict[str, list[float]] = {"summary": [], "healthz": []}
    rounds = 2
    for _ in range(rounds):  # alternate, so load changes on the shared machine hit both
        results["summary"] += await run_clients(conns, summary_path, seconds / rounds, rate)
        results["healthz"] += await run_clients(conns, "/healthz", seconds / rounds, rate)
    for name, values in results.items():
        print(
            f"{name:8} n={len(values):6d} p50={pct(values, 0.5):6.2f} ms p90={pct(values, 0.9):6.2f} ms "
            f"p99={pct(values, 0.99):6.2f} ms max={max(values) * 1000:6.1f} ms "
            f"mean={statistics.mean(values) * 1000:.2f} ms"
        )
    ratio = pct(results["summary"], 0.99) / pct(results["healthz"], 0.99)
    print(f"p99 ratio summary / healthz = {ratio:.2f}")
    for c in conns:
        c.writer.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per endpoint")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rate", type=float, default=10.0, help="requests per second per client")
    args = parser.parse_args()

    settings = Settings().model_copy(update={"mongo_db": DB, "api_port": free_port()})
    ensure_seeded(settings)
    env = {**os.environ, **settings.as_env()}
    code = (
        "import uvicorn; from api.app import create_app; from failstream.settings import Settings; "
        "s = Settings(); uvicorn.run(create_app(s), host='127.0.0.1', port=s.api_port, "
        "log_level='warning', access_log=False)"
    )
    server = subprocess.Popen([sys.executable, "-c", code], env=env)
    try:
        url = f"http://127.0.0.1:{settings.api_port}"
        for _ in range(200):
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        key = settings.api_read_keys[0].get_secret_value()
        body = httpx.get(
            f"{url}/api/v1/stats/summary?window=24h", headers={"X-API-Key": key}, timeout=60
        ).json()
        print(
            f"summary total={body['total']} top ip={body['top_ips'][0]} cache={settings.api_stats_cache_s}s"
        )
        print(f"load average before: {os.getloadavg()[0]:.2f}")
        asyncio.run(measure(settings.api_port, key, args.clients, args.seconds, args.rate))
        print(f"load average after: {os.getloadavg()[0]:.2f}")
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()

"""Time enforcement adds to a request whose client has no decision, with 100,000 decisions loaded.

The capture middleware around a bare ASGI app answering 200, called
in-process, without and with ``enforce``, in alternating blocks. The
enforcing one loads its table the real way: 100,000 decisions (random
addresses in 10.0.0.0/8, plus 100 /24 prefixes elsewhere with ``--prefixes``)
are produced onto a fresh compacted topic, and its feed thread reads them
before the timing starts (that load time is printed too). The client,
198.51.100.7, has no decision: the request path pays a dict miss (and the
prefix lookups when prefixes are decided).

    .venv/bin/python -m benchmarks.enforcement_overhead [--calls 400000] [--prefixes]
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import random
import statistics
import time
import uuid
from typing import Any

from confluent_kafka import Producer

from benchmarks.producer_bench_app import bench_settings
from failstream.kafka_config import confluent_config, ensure_topics
from failstream.producer.asgi import FailureCaptureMiddleware
from failstream.producer.enforcement_asgi import DecisionEnforcementMiddleware

DECISIONS = 100_000
CLIENT = "198.51.100.7"
SCOPE: dict[str, Any] = {
    "type": "http",
    "asgi": {"version": "3.0"},
    "http_version": "1.1",
    "method": "GET",
    "scheme": "http",
    "path": "/api/items/42",
    "raw_path": b"/api/items/42",
    "root_path": "",
    "query_string": b"",
    "headers": [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"bench/1.0")],
    "client": (CLIENT, 51515),
    "server": ("127.0.0.1", 8000),
}
START = {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
BODY = {"type": "http.response.body", "body": b"ok"}


async def ok(scope: Any, receive: Any, send: Any) -> None:
    await send(START)
    await send(BODY)


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(message: Any) -> None:
    return None


def publish_decisions(settings: Any, prefixes: bool) -> int:
    producer = Producer({**confluent_config(settings), "linger.ms": 20})
    until = int((time.time() + 3600) * 1000)
    rng = random.Random(7)
    subjects = {str(ipaddress.IPv4Address(0x0A000000 + rng.randrange(1 << 24))) for _ in range(DECISIONS * 2)}
    chosen = sorted(subjects)[:DECISIONS]
    if prefixes:
        chosen += [f"192.0.{i}.0/24" for i in range(100)]
    for subject in chosen:
        kind = "prefix" if "/" in subject else "ip"
        value = json.dumps(
            {
                "v": 1,
                "subject": subject,
                "kind": kind,
                "rule": "r",
                "alert_key": "b",
                "until": until,
                "decided_at": 0,
            }
        )
        producer.produce(settings.topic_decisions, key=subject.encode(), value=value.encode())
        producer.poll(0)
    assert producer.flush(60) == 0
    return len(chosen)


def _wait_loaded(layer: DecisionEnforcementMiddleware, published: int) -> None:
    feed = layer.enforcer.feed
    assert feed is not None
    while not (feed.ready and len(layer.enforcer.table) >= published):
        time.sleep(0.05)


async def _block(app: Any, calls: int) -> list[int]:
    samples = []
    clock = time.perf_counter_ns
    for _ in range(calls):
        scope = dict(SCOPE)
        started = clock()
        await app(scope, _receive, _send)
        samples.append(clock() - started)
    return samples


async def run(calls: int, blocks: int, prefixes: bool) -> None:
    base = bench_settings()
    settings = base.model_copy(
        update={"enforce": True, "topic_decisions": f"bench-decisions-{uuid.uuid4().hex[:8]}"}
    )
    ensure_topics(settings)
    published = publish_decisions(settings, prefixes)
    plain = FailureCaptureMiddleware(ok, settings=base)
    enforcing = FailureCaptureMiddleware(ok, settings=settings)
    layer = enforcing.app
    assert isinstance(layer, DecisionEnforcementMiddleware)
    started = time.monotonic()
    await _block(enforcing, 1)  # the first request starts the feed
    feed = layer.enforcer.feed
    assert feed is not None
    await asyncio.to_thread(_wait_loaded, layer, published)
    print(f"{published} decisions loaded from the topic in {time.monotonic() - started:.2f} s")
    for app in (plain, enforcing):
        await _block(app, 20_000)  # warm-up
    without: list[int] = []
    with_: list[int] = []
    for i in range(blocks):
        order = [(plain, without), (enforcing, with_)]
        for app, samples in order if i % 2 == 0 else reversed(order):
            samples.extend(await _block(app, calls // blocks))
    feed.stop()
    p50_without, p50_with = statistics.median(without), statistics.median(with_)
    q = statistics.quantiles
    print(f"{len(with_)} calls each, {blocks} alternating blocks, client without a decision")
    print(f"capture alone:            p50 {p50_without:.0f} ns, p99 {q(without, n=100)[98]:.0f} ns")
    print(f"capture with enforcement: p50 {p50_with:.0f} ns, p99 {q(with_, n=100)[98]:.0f} ns")
    added_mean = statistics.fmean(with_) - statistics.fmean(without)
    print(f"added p50 {p50_with - p50_without:.0f} ns (target <= 1000 ns), mean {added_mean:.0f} ns")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=400_000)
    parser.add_argument("--blocks", type=int, default=20)
    parser.add_argument("--prefixes", action="store_true", help="also decide 100 /24 prefixes")
    args = parser.parse_args()
    asyncio.run(run(args.calls, args.blocks, args.prefixes))


if __name__ == "__main__":
    main()

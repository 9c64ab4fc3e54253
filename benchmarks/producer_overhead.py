"""Time the middleware adds to one captured request, measured in-process.

The same Starlette app (a route answering 401) is called directly through
ASGI, with and without the capture middleware, in alternating blocks. Two
middlewares: one with a recorder of its own (the event built and handed to
librdkafka on the calling thread), and the default one, which appends the
facts to the capture queue (the number is what the request thread pays; the
capture thread's work is not in it: see ``benchmarks.producer_http``).

    .venv/bin/python -m benchmarks.producer_overhead [--calls 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

from benchmarks.producer_bench_app import bench_settings, build_app
from failstream.kafka_config import ensure_topics
from failstream.producer.asgi import FailureCaptureMiddleware
from failstream.producer.capture import FailureRecorder
from failstream.producer.capture_queue import flush_capture
from failstream.producer.sink import KafkaSink

SCOPE: dict[str, Any] = {
    "type": "http",
    "asgi": {"version": "3.0"},
    "http_version": "1.1",
    "method": "POST",
    "scheme": "http",
    "path": "/api/items/42",
    "raw_path": b"/api/items/42",
    "root_path": "",
    "query_string": b"",
    "headers": [
        (b"host", b"127.0.0.1:8000"),
        (b"user-agent", b"bench/1.0"),
        (b"accept", b"*/*"),
        (b"authorization", b"Bearer wrong-token"),
        (b"content-length", b"0"),
    ],
    "client": ("203.0.113.9", 51515),
    "server": ("127.0.0.1", 8000),
}


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(message: dict[str, Any]) -> None:
    return None


async def _block(app: Any, calls: int) -> list[int]:
    samples = []
    clock = time.perf_counter_ns
    for _ in range(calls):
        scope = dict(SCOPE)
        started = clock()
        await app(scope, _receive, _send)
        samples.append(clock() - started)
    return samples


async def run(calls: int, blocks: int) -> None:
    settings = bench_settings()
    ensure_topics(settings)
    sink = KafkaSink(settings)
    sink.start()
    plain, queued = build_app(False), build_app(True, sink=sink, settings=settings)
    captured = build_app(False)
    captured.add_middleware(FailureCaptureMiddleware, recorder=FailureRecorder(settings, sink))
    for app in (plain, captured, queued):
        await _block(app, 2000)  # warm-up: route compilation, first produce, the thread's start
    without: list[int] = []
    with_: list[int] = []
    with_queue: list[int] = []
    for i in range(blocks):
        order = [(plain, without), (captured, with_), (queued, with_queue)]
        for app, samples in order if i % 2 == 0 else reversed(order):
            samples.extend(await _block(app, calls // blocks))
    unsent = 0 if flush_capture(30) else -1
    left = sink.flush(30)
    sink.close(10)
    p50_without = statistics.median(without)
    q = statistics.quantiles
    print(f"{len(with_)} calls each, {blocks} alternating blocks; undelivered after flush: {left}, {unsent}")
    p99_without = q(without, n=100)[98]
    print(f"without middleware:      p50 {p50_without / 1000:.1f} us, p99 {p99_without / 1000:.1f} us")
    for name, samples in (("on-thread", with_), ("queued", with_queue)):
        p50 = statistics.median(samples)
        print(
            f"with middleware, {name:8s} p50 {p50 / 1000:.1f} us, p99 {q(samples, n=100)[98] / 1000:.1f} us; "
            f"added p50 {(p50 - p50_without) / 1000:.1f} us (target <= 30 us), "
            f"mean {(statistics.fmean(samples) - statistics.fmean(without)) / 1000:.1f} us"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--blocks", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(run(args.calls, args.blocks))


if __name__ == "__main__":
    main()

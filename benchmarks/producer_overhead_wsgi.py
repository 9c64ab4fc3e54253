"""Time the WSGI middleware adds to one captured request, measured in-process.

A bare WSGI app answering 401 is called directly, with and without
``FailureCaptureWSGIMiddleware`` (the default path: the facts go on the
capture queue, whose thread builds and sends the event to the local broker),
in alternating blocks. The number is what the request thread pays, the
WSGI counterpart of ``benchmarks.producer_overhead``; it uses only the
middleware's public constructor, so it runs unchanged against older trees.

    .venv/bin/python -m benchmarks.producer_overhead_wsgi [--calls 20000]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Iterable
from typing import Any

from benchmarks.producer_bench_app import bench_settings
from failstream.kafka_config import ensure_topics
from failstream.producer.capture_queue import flush_capture
from failstream.producer.sink import KafkaSink
from failstream.producer.wsgi import FailureCaptureWSGIMiddleware

ENVIRON: dict[str, Any] = {
    "REQUEST_METHOD": "POST",
    "PATH_INFO": "/api/items/42",
    "QUERY_STRING": "",
    "SERVER_NAME": "127.0.0.1",
    "SERVER_PORT": "8000",
    "REMOTE_ADDR": "203.0.113.9",
    "HTTP_HOST": "127.0.0.1:8000",
    "HTTP_USER_AGENT": "bench/1.0",
    "HTTP_ACCEPT": "*/*",
    "HTTP_AUTHORIZATION": "Bearer wrong-token",
    "wsgi.version": (1, 0),
    "wsgi.url_scheme": "http",
}
HEADERS = [("Content-Type", "text/plain"), ("WWW-Authenticate", "Bearer")]


def denied(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    environ["failstream.route"] = "/api/items/<int:item_id>"
    start_response("401 Unauthorized", HEADERS)
    return [b"invalid token"]


def _start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
    return None


def _block(app: Callable[..., Iterable[bytes]], calls: int) -> list[int]:
    samples = []
    clock = time.perf_counter_ns
    for _ in range(calls):
        environ = dict(ENVIRON)
        started = clock()
        for _chunk in app(environ, _start_response):
            pass
        samples.append(clock() - started)
    return samples


def run(calls: int, blocks: int) -> None:
    settings = bench_settings()
    ensure_topics(settings)
    sink = KafkaSink(settings)
    sink.start()
    queued = FailureCaptureWSGIMiddleware(denied, settings=settings, sink=sink)
    for app in (denied, queued):
        _block(app, 2000)  # warm-up: the first produce, the thread's start
    without: list[int] = []
    with_queue: list[int] = []
    for i in range(blocks):
        order = [(denied, without), (queued, with_queue)]
        for app, samples in order if i % 2 == 0 else reversed(order):
            samples.extend(_block(app, calls // blocks))
    unsent = 0 if flush_capture(30) else -1
    left = sink.flush(30)
    sink.close(10)
    p50_without, p50 = statistics.median(without), statistics.median(with_queue)
    print(f"{len(with_queue)} calls each, {blocks} alternating blocks; undelivered: {left}, {unsent}")
    print(f"without middleware:      p50 {p50_without / 1000:.2f} us")
    print(f"with middleware, queued  p50 {p50 / 1000:.2f} us; added p50 {(p50 - p50_without) / 1000:.2f} us")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--blocks", type=int, default=10)
    args = parser.parse_args()
    run(args.calls, args.blocks)


if __name__ == "__main__":
    main()

"""Events/s one process hands to KafkaSink into the local broker, next to raw confluent-kafka.

Both loops send the same ~300-byte FailedRequest JSON, keyed by IP, with the
same producer settings (idempotent, lz4, murmur2_random, linger), and are
timed from the first send until the broker acknowledged the last one
(flush), in alternating rounds.

A third loop puts on the capture queue what the ASGI middleware puts there
per failed request (its facts, not the JSON), timed from the first ``put``
until the capture thread has built and sent, and the broker acknowledged,
the last event.

    .venv/bin/python -m benchmarks.producer_throughput [--events 200000 --rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

from confluent_kafka import Producer

from benchmarks.producer_bench_app import TOPIC, bench_settings
from failstream.events import failed_request_json
from failstream.kafka_config import ensure_topics
from failstream.producer.asgi import FailureCaptureMiddleware
from failstream.producer.capture_queue import CaptureQueue
from failstream.producer.ids import next_event_id
from failstream.producer.sink import KafkaSink


def _payloads(n: int) -> list[tuple[bytes, bytes]]:
    out = []
    for i in range(n):
        ip = f"198.51.{i % 200}.{i % 250}"
        value = failed_request_json(
            event_id=next_event_id(),
            ts=1_700_000_000_000 + i,
            service="bench",
            ip=ip,
            method="POST",
            route="/api/items/{item_id}",
            status=401,
            reason="invalid_token",
            user_agent="Mozilla/5.0 (X11; Linux x86_64) bench",
            request_id=f"req-{i}",
        )
        out.append((ip.encode(), value))
    return out


def sink_rate(payloads: list[tuple[bytes, bytes]]) -> float:
    settings = bench_settings()
    sink = KafkaSink(settings)
    sink.start()
    started = time.perf_counter()
    for key, value in payloads:
        sink.send(TOPIC, key, value)
    left = sink.flush(120)
    elapsed = time.perf_counter() - started
    sink.close(10)
    assert left == 0 and sink.spooled == 0, (left, sink.spooled)
    return len(payloads) / elapsed


def _facts(n: int) -> list[tuple[object, ...]]:
    headers = ((b"host", b"127.0.0.1:8000"), (b"user-agent", b"Mozilla/5.0 (X11; Linux x86_64) bench"))
    return [
        (1_700_000_000_000 + i, f"198.51.{i % 200}.{i % 250}", headers, "POST",
         "/api/items/{item_id}", 401, None, None)
        for i in range(n)
    ]  # fmt: skip


def queue_rate(facts: list[tuple[object, ...]]) -> float:
    settings = bench_settings()
    sink = KafkaSink(settings)
    sink.start()
    middleware = FailureCaptureMiddleware(None, settings=settings, sink=sink)  # type: ignore[arg-type]
    deliver = middleware._deliver
    entries = [(deliver, *fact) for fact in facts]
    queue = CaptureQueue(max_entries=len(entries) + 1)
    queue.put(entries[0])  # start the thread and the Kafka client before the clock does
    assert queue.flush(30) and sink.flush(30) == 0
    started = time.perf_counter()
    for entry in entries:
        queue.put(entry)
    assert queue.flush(120)
    left = sink.flush(120)
    elapsed = time.perf_counter() - started
    queue.close()
    sink.close(10)
    assert left == 0 and queue.dropped == 0 and sink.spooled == 0, (left, queue.dropped, sink.spooled)
    return len(entries) / elapsed


def raw_rate(payloads: list[tuple[bytes, bytes]]) -> float:
    settings = bench_settings()
    config = {k: v for k, v in KafkaSink(settings)._config().items() if k not in ("on_delivery", "error_cb")}
    producer = Producer(config)
    started = time.perf_counter()
    for key, value in payloads:
        while True:
            try:
                producer.produce(TOPIC, value, key)
                break
            except BufferError:
                producer.poll(0.01)
        producer.poll(0)
    left = producer.flush(120)
    elapsed = time.perf_counter() - started
    assert left == 0
    return len(payloads) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    ensure_topics(bench_settings())
    payloads = _payloads(args.events)
    entries = _facts(args.events)
    print(f"{args.events} events of {len(payloads[0][1])} bytes per run, {args.rounds} alternating rounds")
    sink: list[float] = []
    raw: list[float] = []
    queued: list[float] = []
    for i in range(args.rounds):
        order = [
            (lambda: sink_rate(payloads), sink),
            (lambda: raw_rate(payloads), raw),
            (lambda: queue_rate(entries), queued),
        ]
        for run, results in order if i % 2 == 0 else reversed(order):
            results.append(run())
    print("KafkaSink.send  events/s:", " ".join(f"{r:,.0f}" for r in sink))
    print("raw produce     events/s:", " ".join(f"{r:,.0f}" for r in raw))
    print("capture queue   events/s:", " ".join(f"{r:,.0f}" for r in queued))
    print(
        f"median KafkaSink {statistics.median(sink):,.0f}/s, raw {statistics.median(raw):,.0f}/s, "
        f"ratio {statistics.median(sink) / statistics.median(raw):.2f} (target >= 100,000/s); "
        f"through the capture queue {statistics.median(queued):,.0f}/s"
    )


if __name__ == "__main__":
    main()

"""A flood of IPv6 failures, each from its own /64: how long the worker takes with and without prefixes.

    .venv/bin/python -m benchmarks.prefix_flood [--events 100000] [--rounds 2]

The worst case for the ``prefix-failures`` path: every failure is forwarded
as a record of its own, and the prefix agent (Faust's per-event stream) runs
on the worker's own loop. Each round starts a worker (no persister) on the
same topics twice, once with ``FAILSTREAM_RULE_PREFIX_IPV6_LENGTH=0`` (no
forwarding) and once with the default /64, and reports, from the worker's
start, when its consumer group had committed all of ``failed-requests``
(per-IP detection done) and all of the repartition topic (prefixes done).
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

from benchmarks.stream_common import drop_topics, failure, isolated, produce_all, start_worker, stop_worker
from failstream.events import now_ms
from failstream.kafka_config import confluent_config
from failstream.settings import Settings
from failstream.stream_app.detection.prefix_forward import repartition_topic


def lag(settings: Settings, topic: str) -> int | None:
    """Messages of ``topic`` the worker's group has not committed; None before the topic has any."""
    c = Consumer({**confluent_config(settings), "group.id": settings.stream_app_id})
    try:
        meta = c.list_topics(topic, timeout=10).topics.get(topic)
        if meta is None or not meta.partitions:
            return None
        parts = [TopicPartition(topic, p) for p in meta.partitions]
        end = sum(c.get_watermark_offsets(tp, timeout=10)[1] for tp in parts)
        done = sum(max(tp.offset, 0) for tp in c.committed(parts, timeout=10))
        return end - done if end else None
    finally:
        c.close()


def run(base: Settings, events: int, length: int, tag: str) -> tuple[float, float | None]:
    settings = base.model_copy(update={"rule_prefix_ipv6_length": length, "stream_app_id": f"{tag}-{length}"})
    worker = start_worker(settings, Path(tempfile.mkdtemp(prefix="prefix-flood-")) / "worker.log")
    start = time.monotonic()
    source_done: float | None = None
    try:
        while time.monotonic() - start < 600:
            if source_done is None and lag(settings, settings.topic_failed_requests) == 0:
                source_done = time.monotonic() - start
                if not length:
                    return source_done, None
            if source_done is not None and lag(settings, repartition_topic(settings)) == 0:
                return source_done, time.monotonic() - start
            time.sleep(0.5)
        raise TimeoutError("the worker did not drain in 600 s")
    finally:
        stop_worker(worker)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    base = isolated("prefix-flood", stream_persist=False)
    rng = random.Random(1)
    t = now_ms()

    def flood() -> Iterator[tuple[bytes, bytes]]:
        for i in range(args.events):
            ip = f"2001:db8:{rng.getrandbits(16):x}:{rng.getrandbits(16):x}::{rng.getrandbits(16):x}"
            yield ip.encode(), bytes(memoryview(failure(ip, t + i // 100, rng)))

    try:
        produce_all(base, flood())
        for r in range(args.rounds):
            off, _ = run(base, args.events, 0, f"{base.stream_app_id}-{r}")
            source, prefixes = run(base, args.events, 64, f"{base.stream_app_id}-{r}")
            print(
                f"round {r + 1}: {args.events} failures; without prefixes drained in {off:.1f} s; with /64 "
                f"prefixes failed-requests in {source:.1f} s, the repartition topic in {prefixes or 0:.1f} s"
            )
    finally:
        drop_topics(base, base.topic_failed_requests.removesuffix("-failed-requests"))


if __name__ == "__main__":
    main()

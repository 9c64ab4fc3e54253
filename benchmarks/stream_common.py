"""Shared helpers of the stream benchmarks: isolated settings, producing, workers."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition

from failstream.events import failed_request_json, new_event_id, now_ms
from failstream.kafka_config import confluent_config, ensure_topics
from failstream.settings import Settings

REASONS = ("invalid_token", "missing_token", "expired_token", "forbidden")


def isolated(name: str, **overrides: object) -> Settings:
    tag = f"bench-{name}-{uuid.uuid4().hex[:6]}"
    settings = Settings().model_copy(
        update={
            "topic_failed_requests": f"{tag}-failed-requests",
            "topic_email_events": f"{tag}-email-events",
            "topic_alerts": f"{tag}-alerts",
            "topic_live_counts": f"{tag}-live-counts",
            "topic_dead_letters": f"{tag}-dead-letters",
            "mongo_db": f"bench_{uuid.uuid4().hex[:10]}",
            "stream_app_id": f"{tag}-stream",
            **overrides,
        }
    )
    ensure_topics(settings)
    return settings


def drop_topics(settings: Settings, prefix: str) -> int:
    """Delete every topic whose name starts with ``prefix`` (a run's tag); return how many.

    Each benchmark round makes topics of its own (events, alerts, changelogs). Left
    behind, they pile up on the local broker by the thousand, and every later
    round shares the two cores with a broker that tends them all.
    """
    from confluent_kafka.admin import AdminClient

    admin = AdminClient(confluent_config(settings))
    names = [t for t in admin.list_topics(timeout=10).topics if t.startswith(prefix)]
    if names:
        for future in admin.delete_topics(names, operation_timeout=30).values():
            future.result()
    return len(names)


def failure(ip: str, ts: int, rng: random.Random) -> bytes:
    return failed_request_json(
        event_id=new_event_id(),
        ts=ts,
        service="bench",
        ip=ip,
        method="POST",
        route=rng.choice(("/api/submit", "/login", "/api/items/{id}")),
        status=401,
        reason=rng.choice(REASONS),
        user_agent="bench",
        request_id="",
    )


def events(n: int, ips: int, seed: int = 1) -> Iterator[tuple[bytes, bytes]]:
    rng = random.Random(seed)
    t = now_ms()
    for i in range(n):
        ip = f"10.{(k := rng.randrange(ips)) // 65536 % 256}.{k // 256 % 256}.{k % 256}"
        yield ip.encode(), failure(ip, t + i // 100, rng)


def producer(settings: Settings) -> Producer:
    return Producer(
        {
            **confluent_config(settings),
            "partitioner": "murmur2_random",
            "linger.ms": 5,
            "compression.type": "lz4",
        }
    )


def produce_all(settings: Settings, messages: Iterator[tuple[bytes, bytes]]) -> int:
    p = producer(settings)
    n = 0
    for key, value in messages:
        while True:
            try:
                p.produce(settings.topic_failed_requests, key=key, value=value)
                break
            except BufferError:
                p.poll(0.05)
        n += 1
    p.flush(60)
    return n


def start_worker(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, **settings.as_env(), "PYTHONUNBUFFERED": "1"}
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "failstream.cli", "stream"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_worker(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def consumer(settings: Settings, topic: str) -> Consumer:
    c = Consumer(
        {
            **confluent_config(settings),
            "group.id": f"bench-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    parts = c.list_topics(topic, timeout=10).topics[topic].partitions
    c.assign([TopicPartition(topic, p, 0) for p in parts])
    return c


def wait(check: object, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise TimeoutError("benchmark step did not finish in time")

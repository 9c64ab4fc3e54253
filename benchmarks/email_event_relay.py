"""Alerting's email events: written to the MongoDB outbox -> acknowledged by Kafka.

Runs the real ``EmailEventPublisher`` and ``EmailEventRelay`` against the
local FerretDB and Kafka broker, on a database and ``email-events`` topic of
its own (both removed at the end). Two figures: the latency of one email
transition (two recipient domains, so two events) from the start of its
outbox write to Kafka's acknowledgement of both, one at a time; and the
rate of a burst of transitions written at once.

    .venv/bin/python -m benchmarks.email_event_relay --single 200 --burst 2000
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid

from confluent_kafka.admin import AdminClient

from failstream.alerting.clock import system_clock
from failstream.alerting.dependencies import Held
from failstream.alerting.email_event_relay import EmailEventRelay
from failstream.alerting.store import connect, ensure_indexes
from failstream.dependency import Dependency
from failstream.kafka_config import confluent_config
from failstream.settings import Settings

RECIPIENTS = ["oncall@example.com", "team@example.org"]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _until(check: object, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError("the relay did not publish in time")
        await asyncio.sleep(0.0005)


async def run(single: int, burst: int) -> None:
    tag = uuid.uuid4().hex[:8]
    settings = Settings().model_copy(
        update={"topic_email_events": f"bench-email-events-{tag}", "mongo_db": f"bench_outbox_{tag}"}
    )
    client = connect(settings)
    db = client[settings.mongo_db]
    await ensure_indexes(db)
    relay = EmailEventRelay(settings, db, f"bench-{tag}", Held(), Dependency("kafka"), system_clock)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        await relay.publisher.publish("<warm-up@bench>", RECIPIENTS, "PENDING", 0)
        await _until(lambda: relay.published == 2)
        latencies: list[float] = []
        for i in range(single):
            before = relay.published
            start = time.perf_counter()
            await relay.publisher.publish(f"<single-{i}@bench>", RECIPIENTS, "SENT", 1)
            await _until(lambda before=before: relay.published == before + 2)  # type: ignore[misc]
            latencies.append((time.perf_counter() - start) * 1000)
        before = relay.published
        start = time.perf_counter()
        await asyncio.gather(
            *(relay.publisher.publish(f"<burst-{i}@bench>", RECIPIENTS, "SENT", 1) for i in range(burst))
        )
        written = time.perf_counter() - start
        await _until(lambda: relay.published == before + 2 * burst, 300)
        total = time.perf_counter() - start
        print(
            f"one transition (2 events), outbox write -> both acknowledged, {single} runs: "
            f"p50 {statistics.median(latencies):.1f} ms, p95 {pct(latencies, 0.95):.1f} ms, "
            f"max {max(latencies):.1f} ms"
        )
        print(
            f"burst of {burst} transitions ({2 * burst} events): written in {written:.2f} s, "
            f"all acknowledged after {total:.2f} s ({2 * burst / total:,.0f} events/s)"
        )
    finally:
        stop.set()
        await task
        await client.drop_database(settings.mongo_db)
        await client.close()
        AdminClient(confluent_config(settings)).delete_topics([settings.topic_email_events])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--single", type=int, default=200)
    parser.add_argument("--burst", type=int, default=2000)
    args = parser.parse_args()
    asyncio.run(run(args.single, args.burst))


if __name__ == "__main__":
    main()

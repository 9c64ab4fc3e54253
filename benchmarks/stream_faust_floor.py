"""The cheapest Faust agent there is, for comparison with the worker in one run.

    FAILSTREAM_* env ... .venv/bin/python -m benchmarks.stream_faust_floor worker

The same app options as ``stream_app.worker`` (uvloop, batches of ``take_events``,
acks on) and an agent that only counts: whatever rate it
reaches is Faust's own per-message ceiling on this machine, which no
detection logic can beat. It writes its rate to stderr and exits once it has
seen ``FAILSTREAM_BENCH_EVENTS`` events.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import faust
import uvloop

from failstream.kafka_config import faust_broker_options
from failstream.settings import Settings


def main() -> None:
    settings = Settings()
    goal = int(os.environ["FAILSTREAM_BENCH_EVENTS"])
    app = faust.App(
        settings.stream_app_id,
        **faust_broker_options(settings),
        store="memory://",
        web_enabled=False,
        topic_partitions=settings.kafka_partitions,
        broker_max_poll_records=settings.stream_batch_max,
        stream_buffer_maxsize=4 * settings.stream_batch_max,
        key_serializer="raw",
        value_serializer="raw",
    )
    topic = app.topic(settings.topic_failed_requests, key_type=bytes, value_type=bytes)
    seen = {"n": 0, "t0": 0.0}

    @app.agent(topic)
    async def count(stream: Any) -> None:
        async for batch in stream.take_events(
            settings.stream_batch_max, within=settings.stream_batch_within_s
        ):
            if not seen["t0"]:
                seen["t0"] = time.perf_counter()
            seen["n"] += len(batch)
            if seen["n"] >= goal:
                rate = seen["n"] / (time.perf_counter() - seen["t0"])
                os.write(2, f"FLOOR-RATE {rate:.0f}\n".encode())
                os._exit(0)

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    faust.Worker(app, loglevel="WARNING").execute_from_commandline()


if __name__ == "__main__":
    main()

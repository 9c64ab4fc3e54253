"""The cheapest Faust consumers there are, for comparison with the worker in one run.

    FAILSTREAM_* env ... FAILSTREAM_BENCH_FLOOR=stream|direct \
        .venv/bin/python -m benchmarks.stream_faust_floor worker

``stream``: an agent that only counts, with the worker's former app options
(uvloop, batches of ``take_events``, acks on): Faust's own per-event Stream
path, which no agent can beat. ``direct``: the worker's own path (a
``BatchedTopic`` on a ``DirectDeliveryApp``, batches taken from its buffer and
acked), counting only. Each writes its rate to stderr and exits once it has
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
from failstream.stream_app.batched_topic import MessageBuffer, ack_all, subscribe_batched, take_batch
from failstream.stream_app.faust_internals import DirectDeliveryApp
from failstream.stream_app.worker import app_data_dir


def main() -> None:
    settings = Settings()
    goal = int(os.environ["FAILSTREAM_BENCH_EVENTS"])
    direct = os.environ.get("FAILSTREAM_BENCH_FLOOR", "stream") == "direct"
    app = (DirectDeliveryApp if direct else faust.App)(
        settings.stream_app_id,
        **faust_broker_options(settings),
        datadir=str(app_data_dir(settings)),  # as the worker's: not the working directory
        store="memory://",
        web_enabled=False,
        topic_partitions=settings.kafka_partitions,
        broker_max_poll_records=settings.stream_batch_max,
        stream_buffer_maxsize=4 * settings.stream_batch_max,
        key_serializer="raw",
        value_serializer="raw",
    )
    seen = {"n": 0, "t0": 0.0}

    def count(n: int) -> None:
        if not seen["t0"]:
            seen["t0"] = time.perf_counter()
        seen["n"] += n
        if seen["n"] >= goal:
            rate = seen["n"] / (time.perf_counter() - seen["t0"])
            os.write(2, f"FLOOR-RATE {rate:.0f}\n".encode())
            os._exit(0)

    if direct:
        buffer = MessageBuffer(settings.stream_batch_max, high_water=4 * settings.stream_batch_max)
        subscribe_batched(app, settings.topic_failed_requests, buffer)

        @app.task
        async def count_batches() -> None:
            while True:
                batch = await take_batch(app, buffer, settings.stream_batch_within_s)
                ack_all(app, batch)
                if batch:
                    count(len(batch))

    else:
        topic = app.topic(settings.topic_failed_requests, key_type=bytes, value_type=bytes)

        @app.agent(topic)
        async def count_events(stream: Any) -> None:
            async for batch in stream.take_events(
                settings.stream_batch_max, within=settings.stream_batch_within_s
            ):
                count(len(batch))

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    faust.Worker(app, loglevel="WARNING").execute_from_commandline()


if __name__ == "__main__":
    main()

"""The API process's one reader of ``live-counts``: Kafka in, whole seconds out to the hub.

One consumer per API process, however many clients: it has no consumer group
(every API process must see every record, and nothing needs committing), so
it assigns itself all partitions and seeks by time. On the first start it
reads back ``api_live_replay_s`` of history, so the ring is full at once and
a client that reconnects to another API process (or after a restart) resumes
by ``ts`` without a hole; after a broker outage it seeks to the first second
not yet released. Seconds are held back until the history is read, so a
replayed second is never pushed as zero while its records are still unread.

Two tasks: ``_consume`` (reconnects with backoff, never gives up) and
``_release`` (wakes when the next second is due and publishes it, whether or
not Kafka is reachable: the feed always ticks, ``records: 0`` says no worker
reported).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from failstream.api.live.hub import LiveHub, Pushed
from failstream.api.live.seconds import SecondsAggregator
from failstream.events import LiveCounts, now_ms
from failstream.kafka_config import KafkaCredentialsError, aiokafka_config
from failstream.settings import ApiSettings

log = logging.getLogger("failstream.api.live")

#: how long pushes wait for the history to be read before the feed ticks anyway
HISTORY_WAIT_S = 10.0


#: a live-counts record further ahead of this clock than this is not believed
FUTURE_LIMIT_MS = 60_000


class LiveFeed:
    """Consumes ``live-counts``, sums each second over workers, publishes it to ``hub``."""

    def __init__(self, settings: ApiSettings, hub: LiveHub, clock: Callable[[], int] = now_ms) -> None:
        self._settings = settings
        self._hub = hub
        self._clock = clock
        delay_ms = round(settings.api_live_delay_s * 1000)
        keep_ms = settings.api_live_replay_s * 1000
        self.seconds = SecondsAggregator(clock() - delay_ms - keep_ms, delay_ms=delay_ms, keep_ms=keep_ms)
        self.history_read = asyncio.Event()
        self.bad_records = 0
        self.future_records = 0
        self.connected = False  # read from Kafka since the last (re)connect: resets the backoff
        self._positions: dict[int, int] = {}  # partition -> next offset, so a reconnect never re-adds
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Start both tasks; returns at once (a broker that is down does not hold up the API)."""
        self._tasks = [
            asyncio.create_task(self._consume(), name="live-feed-consume"),
            asyncio.create_task(self._release(), name="live-feed-release"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._hub.close_all()

    async def _release(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.history_read.wait(), HISTORY_WAIT_S)
        history = self.seconds.release(self._clock())
        self._hub.preload(Pushed(second.ts, second.to_json()) for second in history)
        while True:
            # at most 1 s: a wall clock stepped back must not park the feed for as long
            await asyncio.sleep(min(1.0, max(0.0, (self.seconds.due_at() - self._clock()) / 1000)))
            for second in self.seconds.release(self._clock()):
                self._hub.publish(Pushed(second.ts, second.to_json()))

    async def _consume(self) -> None:
        backoff = 0.5
        while True:
            self.connected = False
            try:
                await self._read_until_failure()
            except (KafkaError, OSError) as exc:
                log.warning("live feed: Kafka %s: %s; retrying in %.1fs", type(exc).__name__, exc, backoff)
            except KafkaCredentialsError as exc:
                log.error("live feed: %s", exc)
            except Exception:  # the feed must outlive any surprise; log it whole and reconnect
                log.exception("live feed: unexpected error; reconnecting in %.1fs", backoff)
            self.history_read.set()  # a broker that is down must not freeze the feed
            await asyncio.sleep(backoff)
            # a connection that once read is a fresh outage next time, not the tenth retry
            backoff = 0.5 if self.connected else min(backoff * 2, 10.0)

    async def _read_until_failure(self) -> None:
        topic = self._settings.topic_live_counts
        consumer = AIOKafkaConsumer(
            **aiokafka_config(self._settings),
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="latest",
            fetch_max_wait_ms=100,  # a second is pushed ~1 s after it ends: reads must be prompt
            client_id="failstream-api-live",
        )
        try:
            await consumer.start()  # inside: a failed or cancelled start still closes the client
            # without a group, subscribe() assigns every partition (and later new ones)
            consumer.subscribe([topic])
            tps = await _assignment(consumer, topic)
            # after a reconnect: on from the last record read; the first time: the history
            start_ms = self.seconds.next_ts
            found = await consumer.offsets_for_times({tp: start_ms for tp in tps})
            ends = await consumer.end_offsets(tps)
            for tp in tps:
                hit = found.get(tp)
                by_time = hit.offset if hit is not None else ends[tp]
                consumer.seek(tp, self._positions.get(tp.partition, by_time))
            while True:
                batches = await consumer.getmany(timeout_ms=500, max_records=1000)
                self.connected = True
                for tp, records in batches.items():
                    for record in records:
                        self._take(record.value)
                    if records:
                        self._positions[tp.partition] = records[-1].offset + 1
                if not self.history_read.is_set() and await _reached(consumer, ends):
                    self.history_read.set()
        finally:
            await _stop(consumer)

    def _take(self, value: bytes | None) -> None:
        try:
            counts = LiveCounts.model_validate_json(value or b"")
        except ValidationError as exc:
            self.bad_records += 1
            if self.bad_records <= 10 or self.bad_records % 1000 == 0:
                log.warning(
                    "live feed: skipped a malformed live-counts record (%d so far): %s",
                    self.bad_records,
                    exc.errors()[0].get("msg"),
                )
            return
        if counts.ts > self._clock() + FUTURE_LIMIT_MS:
            # a worker whose clock runs ahead: held back, its seconds would pile up unreleased
            self.future_records += 1
            if self.future_records <= 10 or self.future_records % 1000 == 0:
                log.warning("live feed: skipped a record %d ms in the future", counts.ts - self._clock())
            return
        self.seconds.add(counts)


async def _assignment(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    for _ in range(100):
        tps = sorted(consumer.assignment())
        if tps:
            return tps
        await asyncio.sleep(0.1)
    raise OSError(f"topic {topic} has no partitions yet (the stream worker creates it)")


async def _reached(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    for tp, end in ends.items():
        if await consumer.position(tp) < end:
            return False
    return True


async def _stop(consumer: AIOKafkaConsumer) -> None:
    """Stop the consumer; aiokafka 0.14 can leak an internal task's CancelledError out of stop()."""
    task = asyncio.current_task()
    try:
        await consumer.stop()
    except asyncio.CancelledError:
        if task is not None and task.cancelling():
            raise  # we are being cancelled for real

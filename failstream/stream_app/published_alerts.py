"""Alert keys already on the ``alerts`` topic, so a replay after a crash re-sends none.

Detection state reaches its changelog a moment after the alert it caused
reaches ``alerts``; a worker killed in between replays those events on
restart and would fire the same alert keys again. Before the first alert
goes out, this reader has read every alert published in the last
``lookback`` (far longer than the few seconds between offset commits) and
then keeps tailing, so keys published by this or any other worker in the
group are known and skipped.

A key counts as published only once the broker has acknowledged it. Faust
cancels agents on every rebalance; had a key been remembered when its send
began, a send cancelled before it reached the producer would leave the key
"published" but absent from the topic, and the replayed batch would then
skip it: a lost alert (the SIGKILL crash test caught this as a few missing
alerts after the restart's rebalances). Sends in flight are shared instead,
so a replay waits for the first send rather than sending a second copy.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable

import orjson
from aiokafka import AIOKafkaConsumer

from failstream.events import now_ms
from failstream.kafka_config import aiokafka_config
from failstream.settings import StreamSettings

LOOKBACK_S = 900.0


class PublishedAlerts:
    def __init__(self, settings: StreamSettings, lookback_s: float = LOOKBACK_S) -> None:
        self.settings = settings
        self.lookback_s = lookback_s
        self.ready = asyncio.Event()
        self._seen: dict[str, float] = {}
        self._in_flight: dict[str, asyncio.Future[object]] = {}

    def __contains__(self, alert_key: str) -> bool:
        return alert_key in self._seen

    def add(self, alert_key: str) -> None:
        self._seen[alert_key] = time.monotonic()

    def in_flight(self, alert_key: str) -> asyncio.Future[object] | None:
        """The pending send of this key, if one was started and not yet acknowledged."""
        return self._in_flight.get(alert_key)

    def sending(self, alert_key: str, ack: Awaitable[object]) -> asyncio.Future[object]:
        """Track a started send; the key becomes published when the broker acknowledges it.

        A failed send forgets the key again, so the next attempt sends it anew.
        """
        future = asyncio.ensure_future(ack)
        self._in_flight[alert_key] = future

        def settle(done: asyncio.Future[object]) -> None:
            self._in_flight.pop(alert_key, None)
            if not done.cancelled() and done.exception() is None:
                self.add(alert_key)

        future.add_done_callback(settle)
        return future

    def _forget_old(self) -> None:
        horizon = time.monotonic() - self.lookback_s
        for key in [k for k, at in self._seen.items() if at < horizon]:
            del self._seen[key]

    async def run(self) -> None:
        """Read the recent past of ``alerts``, set ``ready``, then tail it for good."""
        topic = self.settings.topic_alerts
        # no group: the consumer is given every partition of the topic
        consumer = AIOKafkaConsumer(
            topic, enable_auto_commit=False, group_id=None, **aiokafka_config(self.settings)
        )
        await consumer.start()
        try:
            # partitions arrive with the first metadata; aiokafka signals it with no event
            while not consumer.assignment():  # noqa: ASYNC110
                await asyncio.sleep(0.1)
            partitions = sorted(consumer.assignment())
            since = now_ms() - int(self.lookback_s * 1000)
            starts = await consumer.offsets_for_times(dict.fromkeys(partitions, since))
            for tp, found in starts.items():
                if found is None:
                    await consumer.seek_to_end(tp)
                else:
                    consumer.seek(tp, found.offset)
            ends = await consumer.end_offsets(partitions)
            swept = time.monotonic()
            while True:
                fetched = await consumer.getmany(timeout_ms=200)
                for records in fetched.values():
                    for record in records:
                        try:
                            self.add(str(orjson.loads(record.value or b"{}")["alert_key"]))
                        except (orjson.JSONDecodeError, KeyError, TypeError):
                            continue  # not an Alert: nothing to remember
                if not self.ready.is_set():
                    positions = [await consumer.position(tp) for tp in ends]
                    if all(pos >= end for pos, end in zip(positions, ends.values(), strict=True)):
                        self.ready.set()
                if time.monotonic() - swept > 60:
                    self._forget_old()
                    swept = time.monotonic()
        finally:
            await consumer.stop()

"""The decision change log onto the compacted ``decisions`` topic, in order, for enforcers.

Key: the subject; value: the Decision JSON; a tombstone (no value, header
``reason``) when it ends. Each alerting process relays: what they publish
twice is the same record, and the last record of a key is the subject's
latest change whichever process wrote it last. A process starting up
publishes every kept subject's state first (what a crashed relay may not
have published), then follows the log from a little before its newest
change. The position moves only after Kafka acknowledged, so an outage of
Kafka or MongoDB holds the relay where it is and it resumes by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any, TypeVar

from aiokafka import AIOKafkaProducer

from failstream.alerting.consumer import KAFKA_OUTAGE
from failstream.decisions.feed import REPLAY_MARGIN
from failstream.decisions.model import Decision
from failstream.decisions.store import Change, DecisionStore
from failstream.dependency import Backoff, Dependency, until_done
from failstream.kafka_config import aiokafka_config, ensure_topics
from failstream.settings import AlertingSettings

#: How long a stopping relay waits for aiokafka to hand over what it holds.
STOP_WAIT_S = 5.0

log = logging.getLogger("failstream.alerting")

T = TypeVar("T")
Held = Callable[[Callable[[], Awaitable[T]]], Awaitable[T]]

#: Changes published per round.
BATCH = 500


def record_of(
    subject: str, decision: Decision | None, reason: str
) -> tuple[bytes, bytes | None, list[tuple[str, bytes]]]:
    """(key, value, headers) of one subject's state; no value is a tombstone."""
    value = None if decision is None else decision.model_dump_json().encode()
    return subject.encode(), value, [("reason", reason.encode())]


class DecisionRelay:
    def __init__(
        self, settings: AlertingSettings, store: DecisionStore, mongo: Any, kafka: Dependency
    ) -> None:
        self._settings = settings
        self.store = store
        self._mongo = mongo  # alerting.dependencies.Held: MongoDB reads waited for across an outage
        self._kafka = kafka
        self._wake = asyncio.Event()
        self.published = 0

    def wake(self) -> None:
        """A change was logged: publish it now rather than at the next look."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        settings = self._settings
        await until_done(
            lambda: asyncio.to_thread(ensure_topics, settings),
            self._kafka,
            (Exception,),
            backoff=Backoff(0.5, 5.0),
        )
        producer = await until_done(
            self._start_producer, self._kafka, KAFKA_OUTAGE, backoff=Backoff(0.5, 5.0)
        )
        try:
            position = max(await self._mongo(self.store.last_seq) - REPLAY_MARGIN, 0)
            subjects = await self._mongo(self.store.all_subjects)
            await self._send(producer, [record_of(s, d, "start") for s, d in subjects])
            log.info(
                "decisions: %d subject(s) published at start; following changes after %d",
                len(subjects),
                position,
            )
            while not stop.is_set():
                changes = await self._mongo(partial(self.store.changes_since, position, BATCH))
                if changes:
                    await self._send(producer, [self._record(c) for c in changes])
                    position = changes[-1].seq
                    continue
                self._wake.clear()
                await _first_of(self._wake, stop, self._settings.decision_sweep_s)
        finally:
            # stop() waits for what aiokafka still holds, forever with the broker away; what it
            # did not acknowledge, the next relay publishes again (every subject's state at its start)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(producer.stop(), STOP_WAIT_S)

    @staticmethod
    def _record(change: Change) -> tuple[bytes, bytes | None, list[tuple[str, bytes]]]:
        decision = change.decision if change.op == "add" else None
        return record_of(change.subject, decision, change.reason or change.op)

    async def _start_producer(self) -> AIOKafkaProducer:
        producer = AIOKafkaProducer(acks="all", enable_idempotence=True, **aiokafka_config(self._settings))
        try:
            await producer.start()
        except BaseException:
            await producer.stop()
            raise
        return producer

    async def _send(
        self,
        producer: AIOKafkaProducer,
        records: Sequence[tuple[bytes, bytes | None, list[tuple[str, bytes]]]],
    ) -> None:
        """Every record acknowledged, in order per key; an outage is waited out and the batch sent again."""
        topic = self._settings.topic_decisions

        async def send_all() -> None:
            waits = [await producer.send(topic, value=v, key=k, headers=h) for k, v, h in records]
            await asyncio.gather(*waits)

        if records:
            await until_done(send_all, self._kafka, KAFKA_OUTAGE, backoff=Backoff(0.2, 5.0))
            self.published += len(records)


async def _first_of(event: asyncio.Event, stop: asyncio.Event, timeout_s: float) -> None:
    waits = [asyncio.create_task(event.wait()), asyncio.create_task(stop.wait())]
    try:
        await asyncio.wait(waits, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in waits:
            task.cancel()

"""The email event outbox onto ``email-events``: each alerting process publishes what it wrote.

``EmailEventPublisher`` writes an email's events to ``email_event_outbox``
before the log record they describe; this relay sends the process's own
pending events in ``_id`` (event id, so creation) order with an idempotent
aiokafka producer (``acks=all``) and deletes them once Kafka acknowledged.
An outage of Kafka or MongoDB holds it where it is (``until_done``, the
``kafka`` and ``mongodb`` dependencies), and it resumes by itself.

A process that dies leaves its pending events behind. Each relay writes a
heartbeat to ``email_event_relays`` every third of
``alerting_email_events_orphan_s``; an owner silent for longer (heartbeat
and newest event alike) is adopted by the first relay to insert the
adoption's arbiter (a unique ``_id``, as the alert fence decides
take-overs: FerretDB 1.24 runs updates without isolation), which then
publishes its events as its own. Delivery is at least once: a crash
between Kafka's acknowledgement and the delete publishes those events
again, with the same event ids (``docs/alert-delivery.md``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

from aiokafka import AIOKafkaProducer
from pymongo.errors import DuplicateKeyError

from failstream.alerting.clock import Clock
from failstream.alerting.consumer import KAFKA_OUTAGE
from failstream.alerting.email_events import EmailEventPublisher
from failstream.alerting.store import Database
from failstream.dependency import Backoff, Dependency, until_done
from failstream.kafka_config import aiokafka_config, ensure_topics
from failstream.settings import AlertingSettings

log = logging.getLogger("failstream.alerting")

OUTBOX = "email_event_outbox"
RELAYS = "email_event_relays"
#: Events published per round.
BATCH = 500
#: Waiting this long for Kafka's acknowledgement marks the broker down (the wait goes on).
ACK_WAIT_S = 5.0
#: At the end, how long the producer may take to deliver what it holds.
STOP_WAIT_S = 5.0
#: Heartbeats and adoption arbiters older than this are deleted at start-up.
KEEP_RELAY_DOCS_MS = 7 * 86_400_000


def is_orphaned(seen_at: int, newest_at: int, now: int, orphan_ms: int) -> bool:
    """An owner is taken for dead when neither its heartbeat nor its newest event is recent.

    The newest event counts as a sign of life for an owner that wrote before
    its first heartbeat landed (a one-shot command starting up).
    """
    return now - max(seen_at, newest_at) > orphan_ms


async def start_producer(settings: AlertingSettings) -> AIOKafkaProducer:
    producer = AIOKafkaProducer(acks="all", enable_idempotence=True, **aiokafka_config(settings))
    try:
        await producer.start()
    except BaseException:
        await producer.stop()
        raise
    return producer


class EmailEventRelay:
    def __init__(
        self,
        settings: AlertingSettings,
        db: Database,
        owner: str,
        mongo: Any,  # alerting.dependencies.Held: MongoDB calls waited for across an outage
        kafka: Dependency,
        clock: Clock,
    ) -> None:
        self._settings = settings
        self._outbox = db[OUTBOX]
        self._relays = db[RELAYS]
        self.owner = owner
        self._mongo = mongo
        self._kafka = kafka
        self._clock = clock
        self._orphan_ms = int(settings.alerting_email_events_orphan_s * 1000)
        self._beat_s = settings.alerting_email_events_orphan_s / 3
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self.publisher = EmailEventPublisher(self._outbox, owner, self.wake)
        self.published = 0

    def wake(self) -> None:
        """Events were written: publish them now rather than at the next look."""
        self._idle.clear()
        self._wake.set()

    async def wait_idle(self) -> None:
        """Until the relay found none of its own events left (for one-shot commands before exit)."""
        await self._idle.wait()

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until ``stop``; what is left is published by this owner's adopter."""
        beats = asyncio.create_task(self._keep_beating(stop))
        try:
            await self._publish_until(stop)
        finally:
            beats.cancel()
            await asyncio.gather(beats, return_exceptions=True)

    async def _publish_until(self, stop: asyncio.Event) -> None:
        settings = self._settings
        backoff = Backoff(0.5, 5.0)
        await until_done(
            lambda: asyncio.to_thread(ensure_topics, settings), self._kafka, (Exception,), backoff=backoff
        )
        producer = await until_done(
            lambda: start_producer(settings), self._kafka, KAFKA_OUTAGE, backoff=backoff
        )
        try:
            while not stop.is_set():
                self._wake.clear()  # before the read: a write after it wakes the next wait
                docs = await self._mongo(self._own_pending)
                if docs:
                    await self._send(producer, docs)
                    published = {"_id": {"$in": [d["_id"] for d in docs]}}
                    await self._mongo(partial(self._outbox.delete_many, published))
                    self.published += len(docs)
                    continue
                if not self._wake.is_set():
                    self._idle.set()
                await _first_of(self._wake, stop, self._beat_s)
        finally:
            # stop() waits for what aiokafka still holds, forever with the broker away: those events
            # are still in the outbox, for this owner's adopter
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(producer.stop(), STOP_WAIT_S)

    async def _own_pending(self) -> list[dict[str, Any]]:
        cursor = self._outbox.find({"owner": self.owner}).sort("_id", 1).limit(BATCH)
        return [doc async for doc in cursor]

    async def _send(self, producer: AIOKafkaProducer, docs: list[dict[str, Any]]) -> None:
        """Every event acknowledged; after an outage only the unacknowledged ones are sent again."""
        topic = self._settings.topic_email_events
        pending = list(docs)

        async def send_pending() -> None:
            waits: list[asyncio.Future[Any]] = []
            error: BaseException | None = None
            try:
                for doc in pending:
                    waits.append(await producer.send(topic, value=doc["value"], key=doc["key"].encode()))
            except KAFKA_OUTAGE as exc:
                error = exc
            results = await self._acknowledged(waits)
            acked = {
                id(doc) for doc, r in zip(pending, results, strict=False) if not isinstance(r, BaseException)
            }
            failed = [r for r in results if isinstance(r, BaseException)]
            pending[:] = [doc for doc in pending if id(doc) not in acked]
            if error is None and failed:
                error = failed[0]
            if error is not None:
                raise error

        await until_done(send_pending, self._kafka, KAFKA_OUTAGE, backoff=Backoff(0.2, 5.0))

    async def _acknowledged(self, waits: list[asyncio.Future[Any]]) -> list[Any]:
        """Kafka's answers to ``waits``, each a result or an error.

        aiokafka retries a send for as long as the broker is away, so its
        futures neither fail nor finish during an outage. Sending them again
        would put a second copy on the topic once the broker is back; instead
        the relay keeps waiting for the same futures and says the broker is
        down once it has waited ``ACK_WAIT_S``.
        """
        answers = asyncio.gather(*waits, return_exceptions=True)
        while True:
            try:
                return await asyncio.wait_for(asyncio.shield(answers), ACK_WAIT_S)
            except TimeoutError:
                self._kafka.down(TimeoutError(f"no acknowledgement from Kafka within {ACK_WAIT_S:.0f} s"))

    # --- heartbeats and adoption ----------------------------------------------

    async def _keep_beating(self, stop: asyncio.Event) -> None:
        await self._mongo(self._sweep_old)
        while not stop.is_set():
            await self._mongo(self._beat)
            adopted = await self._mongo(self._adopt_orphans)
            if adopted:
                self.wake()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._beat_s)

    async def _beat(self) -> None:
        now = self._clock()
        await self._relays.update_one(
            {"_id": f"beat:{self.owner}"}, {"$set": {"owner": self.owner, "at": now}}, upsert=True
        )

    async def _sweep_old(self) -> None:
        await self._relays.delete_many({"at": {"$lt": self._clock() - KEEP_RELAY_DOCS_MS}})

    async def _seen_at(self, owner: str) -> int:
        doc = await self._relays.find_one({"_id": f"beat:{owner}"})
        return 0 if doc is None else int(doc["at"])

    async def _adopt_orphans(self) -> int:
        """Take over the pending events of owners taken for dead; returns how many owners."""
        adopted = 0
        for owner in await self._outbox.distinct("owner"):
            if owner == self.owner:
                continue
            newest = await self._outbox.find_one({"owner": owner}, sort=[("_id", -1)])
            if newest is None:
                continue  # adopted by another relay meanwhile
            now = self._clock()
            seen_at, newest_at = await self._seen_at(owner), int(newest["at"])
            if not is_orphaned(seen_at, newest_at, now, self._orphan_ms):
                continue
            last_sign = max(seen_at, newest_at)
            if await self._claim(owner, last_sign, now):
                moved = await self._outbox.update_many({"owner": owner}, {"$set": {"owner": self.owner}})
                log.warning(
                    "email events: %d pending event(s) of %s (silent for %.0f s) adopted for publishing",
                    moved.modified_count,
                    owner,
                    (now - last_sign) / 1000,
                )
                adopted += 1
        return adopted

    async def _claim(self, owner: str, last_sign: int, now: int) -> bool:
        """One relay adopts an owner's events as of its last sign of life: a unique insert decides.

        An adopter that died before moving the events leaves its arbiter
        behind; the next relay then claims the next one of the series.
        """
        for attempt in range(100):
            arbiter = f"adopt:{owner}@{last_sign}#{attempt}"
            try:
                await self._relays.insert_one({"_id": arbiter, "by": self.owner, "at": now})
                return True
            except DuplicateKeyError:
                held = await self._relays.find_one({"_id": arbiter})
                by = "" if held is None else str(held["by"])
                if by == self.owner:
                    return True  # ours, from a try whose answer was lost
                if not is_orphaned(await self._seen_at(by), 0, now, self._orphan_ms):
                    return False  # a live relay has them
        return False


@contextlib.asynccontextmanager
async def relaying(relay: EmailEventRelay, grace_s: float = 5.0) -> AsyncIterator[None]:
    """For a one-shot command: publish while it works, and before it exits what it wrote (bounded).

    What is still pending after ``grace_s`` (Kafka away) stays in the outbox
    for a running alerting process to adopt.
    """
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        yield
    finally:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(relay.wait_idle(), grace_s)
        stop.set()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _first_of(event: asyncio.Event, stop: asyncio.Event, timeout_s: float) -> None:
    waits = [asyncio.create_task(event.wait()), asyncio.create_task(stop.wait())]
    try:
        await asyncio.wait(waits, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in waits:
            task.cancel()

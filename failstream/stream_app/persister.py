"""MongoDB persistence (and the retention sweep) in a consumer group of its own.

Detection never waits for the database.

It reads the same topics as the detection agents with a group of its own
(``<app id>-persist``), writes a batch, then commits its offsets: a crash
replays the uncommitted batches, which the idempotent writes absorb. The
next batch's raw failures are stored while this batch's counters are
written (``mongo.in_turn``); batches are committed in order, each once its
counters are written. Scale-out splits its partitions among workers
exactly like the agents'.

An outage of MongoDB or Kafka is waited out, never a reason to exit: the
batch being written is held (its offsets uncommitted) and retried with
backoff until the dependency is back, and ``/readyz`` on the persister's
metrics port says what it waits for. The worker restarts a persister that
dies anyway (``stream_app.child_supervisor``).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError

from failstream.dependency import until_done
from failstream.events import Alert, dumps, now_ms
from failstream.kafka_config import aiokafka_config
from failstream.logs import configure_logging
from failstream.mongo_outage import MONGO_ERRORS, is_mongo_outage
from failstream.settings import StreamSettings
from failstream.stream_app import metrics
from failstream.stream_app.detection.alert import to_alert
from failstream.stream_app.live_counts import LiveCountsAccumulator
from failstream.stream_app.mongo.client import connect, ensure_indexes
from failstream.stream_app.mongo.dead_letters import store_dead_letters
from failstream.stream_app.mongo.failures import RecentLists, Staged, count, stage, statement_slots
from failstream.stream_app.mongo.in_turn import in_turn
from failstream.stream_app.mongo.retention import sweep_all
from failstream.stream_app.outages import KAFKA_ERRORS, kafka, kafka_outage, mongodb
from failstream.stream_app.processing import (
    Decoded,
    EmailBatch,
    EmailBatches,
    FailureBatches,
    Record,
    spike_notification,
)

log = logging.getLogger("failstream.stream.persist")

T = TypeVar("T")


async def _stored(operation: Callable[[], Awaitable[T]]) -> T:
    """A MongoDB write or sweep, retried across an outage (each is idempotent)."""
    return await until_done(operation, mongodb(), MONGO_ERRORS, retryable=is_mongo_outage)


def persist_group(settings: StreamSettings) -> str:
    return f"{settings.stream_app_id}-persist"


def persister_instance_id(settings: StreamSettings) -> str | None:
    """The worker's static member id with a suffix: each of its two groups knows it again on restart."""
    return f"{settings.stream_instance_id}-persist" if settings.stream_instance_id else None


class FinishBeforeHandOver(ConsumerRebalanceListener):  # type: ignore[misc]
    """Hold a rebalance until the batches being written are written and committed.

    Without it the old owner of a partition can still be writing a batch when
    the new owner replays it, and two writers on one document lose increments
    on FerretDB (see ``stream_app.mongo.failures.minute_doc_id``). ``wanted``
    tells the writer to begin no further batch meanwhile.
    """

    def __init__(self, batch_lock: asyncio.Lock, recent: RecentLists | None = None) -> None:
        self._batch_lock = batch_lock
        self._recent = recent
        self.wanted = False

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self.wanted = True
        try:
            async with self._batch_lock:
                if self._recent is not None:  # the next owner may write those IPs' lists
                    self._recent.clear()
        finally:
            self.wanted = False

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        pass


async def run_persister(
    settings: StreamSettings,
    failures: FailureBatches,
    emails: EmailBatches,
    publish: Callable[[list[Alert]], Awaitable[None]],
) -> None:
    batch_lock = asyncio.Lock()
    recent = RecentLists()
    handover = FinishBeforeHandOver(batch_lock, recent)

    async def started() -> AIOKafkaConsumer:
        consumer = AIOKafkaConsumer(
            group_id=persist_group(settings),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=settings.stream_persist_batch_max,
            session_timeout_ms=int(settings.stream_session_timeout_s * 1000),
            group_instance_id=persister_instance_id(settings),
            **aiokafka_config(settings),
        )
        consumer.subscribe(
            [settings.topic_failed_requests, settings.topic_email_events],
            listener=handover,
        )
        try:
            await consumer.start()
        except BaseException:
            await consumer.stop()  # a consumer whose start failed is not started again: a new one is
            raise
        return consumer

    consumer = await until_done(started, kafka(), KAFKA_ERRORS, retryable=kafka_outage)
    try:
        while True:
            fetched = await consumer.getmany(timeout_ms=200, max_records=settings.stream_persist_batch_max)
            if not fetched:
                continue
            async with batch_lock:
                await _write_batches(settings, consumer, fetched, handover, failures, emails, publish, recent)
    finally:
        await consumer.stop()


@dataclass(frozen=True)
class _Batch:
    """A fetched batch whose raw failures and dead letters are stored."""

    staged: Staged
    decoded: Decoded
    emails: EmailBatch
    offsets: dict[TopicPartition, int]


async def _write_batches(
    settings: StreamSettings,
    consumer: AIOKafkaConsumer,
    fetched: dict[TopicPartition, list[Any]],
    handover: FinishBeforeHandOver,
    failures: FailureBatches,
    emails: EmailBatches,
    publish: Callable[[list[Alert]], Awaitable[None]],
    recent: RecentLists | None = None,
) -> None:
    """Write ``fetched`` and the batches already waiting behind it, committing each once written.

    Called with the batch lock held. The next batch's raw failures are stored
    while this one's counters are written (``in_turn``); the run ends when no
    batch is waiting or a rebalance wants the partitions.
    """
    db = failures.db
    assert db is not None  # the persister's batches always have their database
    slots = statement_slots()  # the counters' statements of every batch of the run

    async def batches() -> AsyncIterator[dict[TopicPartition, list[Any]]]:
        yield fetched
        while not handover.wanted:
            more = await consumer.getmany(timeout_ms=0, max_records=settings.stream_persist_batch_max)
            if not more:
                return
            yield more

    async def first(records: dict[TopicPartition, list[Any]]) -> _Batch:
        # a rebalance may have run between the fetch and the lock: records of a partition
        # no longer ours are the new owner's to write (it replays them from the commit)
        owned = consumer.assignment()
        failure_records: list[Record] = []
        email_records: list[Record] = []
        offsets: dict[TopicPartition, int] = {}
        for tp, messages in records.items():
            if tp not in owned or not messages:
                continue
            target = failure_records if tp.topic == settings.topic_failed_requests else email_records
            target.extend(Record(m.topic, m.partition, m.offset, m.key, m.value) for m in messages)
            offsets[tp] = messages[-1].offset + 1
        decoded = failures.decode(failure_records, count_live=False)
        batch = emails.decode(email_records, count_live=False)
        # the writes are idempotent, so a write cut off by an outage is simply written again
        await _stored(lambda: store_dead_letters(db, [letter for _, letter in decoded.letters]))
        staged = await _stored(lambda: stage(db, decoded.reads, slots))
        return _Batch(staged, decoded, batch, offsets)

    async def second(written: _Batch) -> None:
        if written.staged.reads:
            totals = await _stored(lambda: count(db, written.staged, slots, recent))
            notes = [spike_notification(t, failures.rules.spike_per_minute) for t in totals]
            await publish([to_alert(n) for n in notes if n is not None])
        if written.emails.reads or written.emails.letters:
            await _stored(lambda: emails.persist(written.emails))
        letters = len(written.decoded.letters) + len(written.emails.letters)
        metrics.count_persisted(len(written.decoded.reads), len(written.emails.reads), letters)
        # this batch's own offsets: the consumer's position is already past the next batch
        owned = consumer.assignment()
        offsets = {tp: offset for tp, offset in written.offsets.items() if tp in owned}
        if not offsets:
            return
        try:
            await until_done(lambda: consumer.commit(offsets), kafka(), KAFKA_ERRORS, retryable=kafka_outage)
        except (CommitFailedError, IllegalStateError) as exc:  # rebalanced away: the new owner replays
            log.warning("persist commit failed, batch will be replayed: %s", exc)

    await in_turn(batches(), first, second)


async def _serve(settings: StreamSettings, parent_pid: int) -> None:
    """The persister process: its own loop, MongoDB client and producer for spike alerts."""
    metrics.serve_persister(settings, persist_group(settings))
    db = connect(settings)
    await _stored(lambda: ensure_indexes(db))
    live = LiveCountsAccumulator()  # the detection process publishes the live counts
    failures = FailureBatches(settings, {}, db, live)
    emails = EmailBatches(settings, {}, db, live)

    async def started() -> AIOKafkaProducer:
        producer = AIOKafkaProducer(acks="all", **aiokafka_config(settings))
        try:
            await producer.start()
        except BaseException:
            await producer.stop()
            raise
        return producer

    producer = await until_done(started, kafka(), KAFKA_ERRORS, retryable=kafka_outage)

    async def publish(alerts: list[Alert]) -> None:
        for alert in alerts:

            async def send(alert: Alert = alert) -> object:
                return await producer.send_and_wait(
                    settings.topic_alerts, dumps(alert), key=alert.subject.encode()
                )

            await until_done(send, kafka(), KAFKA_ERRORS, retryable=kafka_outage)
            log.info(
                "alert %s (%s, count %d)",
                alert.alert_key,
                alert.state,
                alert.count,
                extra={"alert_key": alert.alert_key},
            )
        metrics.observe_published(alerts, now_ms())

    async def sweep_once() -> dict[str, int]:
        return await sweep_all(db, now_ms(), settings)

    async def retention() -> None:
        while True:
            await asyncio.sleep(settings.stream_retention_sweep_s)
            deleted = await _stored(sweep_once)
            if any(deleted.values()):
                log.info(
                    "retention: deleted %s",
                    ", ".join(f"{n} {name}" for name, n in deleted.items() if n),
                )

    async def orphaned() -> None:
        # no event tells a child that its parent died (SIGKILL): poll
        while os.getppid() == parent_pid:  # noqa: ASYNC110
            await asyncio.sleep(1)

    try:
        serve = asyncio.ensure_future(run_persister(settings, failures, emails, publish))
        watch = asyncio.ensure_future(orphaned())
        sweep = asyncio.ensure_future(retention())
        done, _ = await asyncio.wait({serve, watch, sweep}, return_when=asyncio.FIRST_COMPLETED)
        for task in (serve, watch, sweep):
            task.cancel()
        for task in done:
            if task is not watch:
                task.result()  # a crash of the persister is reported, not swallowed
    finally:
        await producer.stop()
        await db.client.close()


def persister_main(settings: StreamSettings, parent_pid: int) -> None:
    """Entry point of the persister child process (started by ``run_worker``)."""
    configure_logging(settings.log_level, settings.log_format)  # a spawned process: set up anew
    # counts may lag, alerts may not: on a busy host the detection process gets the CPU first
    os.nice(10)
    asyncio.run(_serve(settings, parent_pid))

"""The alerting process: consume ``alerts`` and run each through the pipeline.

Offsets are committed manually and only up to alerts that are finished, so
a crash (even SIGKILL) re-delivers whatever was not handled; the fence in
MongoDB makes that re-delivery harmless. SIGTERM sends the groups still
waiting before exit, instead of leaving their claims to expire.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import uuid
from functools import partial
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from pydantic import ValidationError

from alerting import metrics
from alerting.clock import system_clock
from alerting.dead_letters import FailedSendLetters
from alerting.delivery import AlertDelivery
from alerting.exceptions import AlertingConfigError
from alerting.lanes import SubjectLanes
from alerting.offsets import OffsetTracker
from alerting.pipeline import AlertPipeline, build_stages
from alerting.reports.scheduler import run_reports
from alerting.store import connect, ensure_indexes
from failstream.kafka_config import aiokafka_config
from failstream.settings import Settings
from producer.events import Alert
from producer.sink import KafkaSink

log = logging.getLogger("failstream.alerting")

#: Longest wait for new alerts before looking at due groups and the stop flag again.
POLL_MS = 500


def consumer_group(settings: Settings) -> str:
    return settings.alerting_group_id or f"failstream-alerting-{settings.topic_alerts}"


def process_owner() -> str:
    """Unique per process start: a restarted process must not mistake the old claims for its own."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class _CommitOnRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, consumer: AIOKafkaConsumer, tracker: OffsetTracker) -> None:
        self._consumer = consumer
        self._tracker = tracker

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await commit_finished(self._consumer, self._tracker)
        self._tracker.forget(revoked)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        return None


async def commit_finished(consumer: AIOKafkaConsumer, tracker: OffsetTracker) -> None:
    offsets = tracker.committable()
    if not offsets:
        return
    try:
        await consumer.commit(offsets)  # type: ignore[arg-type]
    except (CommitFailedError, KafkaError) as exc:
        # partitions moved on; the fence keeps the re-delivery from sending twice
        log.warning("offset commit failed (%s); the alerts will be re-read and skipped", exc)


async def _handle_record(
    pipeline: AlertPipeline,
    letters: FailedSendLetters,
    tracker: OffsetTracker,
    tp: TopicPartition,
    record: Any,
) -> None:
    try:
        alert = Alert.model_validate_json(record.value)
    except ValidationError as exc:
        log.warning("malformed alert at %s:%d dead-lettered", tp, record.offset)
        await letters.record_malformed(
            tp.topic, tp.partition, record.offset, record.key, record.value, str(exc)
        )
        tracker.finish(tp, record.offset)
        return
    await pipeline.handle(
        AlertDelivery(alert, tp.topic, tp.partition, record.offset, record.key, record.value)
    )


async def run(settings: Settings) -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    metrics.serve(settings, consumer_group(settings))
    client = connect(settings)
    db = client[settings.mongo_db]
    await ensure_indexes(db)
    sink = KafkaSink(settings)
    tracker = OffsetTracker()
    lanes = SubjectLanes(settings.alerting_concurrency)
    owner = process_owner()
    try:
        stages = build_stages(settings, db, sink, owner, system_clock)
    except AlertingConfigError as exc:
        await client.close()
        raise SystemExit(f"failstream alerting: {exc}") from exc  # one clear line, exit 1
    letters: FailedSendLetters = stages.letters
    pipeline = AlertPipeline(
        settings,
        stages,
        on_handled=lambda d: tracker.finish(TopicPartition(d.topic, d.partition), d.offset),
    )
    consumer = AIOKafkaConsumer(
        group_id=consumer_group(settings),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **aiokafka_config(settings),
    )
    consumer.subscribe([settings.topic_alerts], listener=_CommitOnRevoke(consumer, tracker))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await consumer.start()
    log.info("alerting %s consuming %s as group %s", owner, settings.topic_alerts, consumer_group(settings))
    reports = asyncio.create_task(run_reports(settings, db, sink, owner, stop))  # scheduled summary emails
    try:
        while not stop.is_set():
            due_ms = pipeline.ms_until_due()
            timeout_ms = POLL_MS if due_ms is None else min(due_ms, POLL_MS)
            batches = await consumer.getmany(timeout_ms=timeout_ms, max_records=500)
            for tp, records in batches.items():
                for record in records:
                    tracker.track(tp, record.offset)
                    await lanes.wait_for_room(settings.alerting_concurrency * 4)
                    lanes.submit(record.key, partial(_handle_record, pipeline, letters, tracker, tp, record))
            lanes.raise_if_failed()
            await pipeline.flush_due()
            await commit_finished(consumer, tracker)
        await lanes.drain()
        await pipeline.flush_all()
        await commit_finished(consumer, tracker)
    finally:
        stop.set()  # also on a crash: the report loop finishes its send and ends
        await reports
        await consumer.stop()
        sink.close(timeout_s=5)
        await client.close()


if __name__ == "__main__":
    asyncio.run(run(Settings()))

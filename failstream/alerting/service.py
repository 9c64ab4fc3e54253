"""The alerting process: consume ``alerts`` and run each through the pipeline.

Offsets are committed manually and only up to alerts that are finished, so
a crash (even SIGKILL) re-delivers whatever was not handled; the fence in
MongoDB makes that re-delivery harmless. SIGTERM sends the groups still
waiting before exit, instead of leaving their claims to expire.

An outage of MongoDB, Kafka or the SMTP relay never ends the process: the
alerts under way wait where they are (``alerting.dependencies``), the
consumer pauses once enough of them wait, yet keeps polling so it stays in
its group, and everything resumes by itself when the dependency is back.
Only what cannot get better by waiting (a setting) ends it, with one line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import uuid
from functools import partial
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from failstream.alerting import metrics
from failstream.alerting.clock import system_clock
from failstream.alerting.consumer import KAFKA_OUTAGE, commit_finished, start_consumer
from failstream.alerting.dead_letters import FailedSendLetters
from failstream.alerting.decision_expiry import expire_decisions
from failstream.alerting.delivery import AlertDelivery
from failstream.alerting.dependencies import Held, kafka, watch
from failstream.alerting.email_event_relay import EmailEventRelay
from failstream.alerting.exceptions import AlertingConfigError
from failstream.alerting.lanes import SubjectLanes
from failstream.alerting.offsets import OffsetTracker
from failstream.alerting.pipeline import AlertPipeline, Stages, build_stages
from failstream.alerting.reports.scheduler import run_reports
from failstream.alerting.store import connect, ensure_indexes
from failstream.events import Alert
from failstream.logs import configure_logging
from failstream.mongo_outage import MONGO_ERRORS
from failstream.settings import AlertingSettings

log = logging.getLogger("failstream.alerting")

#: Longest wait for new alerts before looking at due groups and the stop flag again.
POLL_MS = 500
#: On SIGTERM, how long alerts under way may take to finish; what is still waiting for an
#: outage then stays uncommitted and claimed, for the next process to take over.
SHUTDOWN_GRACE_S = 15.0


def consumer_group(settings: AlertingSettings) -> str:
    return settings.alerting_group_id or f"failstream-alerting-{settings.topic_alerts}"


def process_owner() -> str:
    """Unique per process start: a restarted process must not mistake the old claims for its own."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


async def _handle_record(
    pipeline: AlertPipeline,
    letters: FailedSendLetters,
    held: Held,
    tracker: OffsetTracker,
    tp: TopicPartition,
    record: Any,
) -> None:
    try:
        alert = Alert.model_validate_json(record.value)
    except ValidationError as exc:
        log.warning("malformed alert at %s:%d dead-lettered", tp, record.offset)
        error = str(exc)
        await held(
            lambda: letters.record_malformed(
                tp.topic, tp.partition, record.offset, record.key, record.value, error
            )
        )
        tracker.finish(tp, record.offset)
        return
    await pipeline.handle(
        AlertDelivery(alert, tp.topic, tp.partition, record.offset, record.key, record.value)
    )


def _apply_backpressure(consumer: AIOKafkaConsumer, lanes: SubjectLanes, limit: int) -> int:
    """Pause fetching while ``limit`` alerts are under way; returns how many more may be fetched.

    The consumer still polls while paused, so a long outage never makes it
    miss ``max.poll.interval`` and leave its group (its partitions, and their
    uncommitted alerts, would move to another process that can do no better).
    """
    room = limit - lanes.in_flight()
    if room <= 0:
        consumer.pause(*consumer.assignment())
        return 0
    paused = consumer.paused()
    if paused:
        consumer.resume(*paused)
    return room


async def run(settings: AlertingSettings) -> None:
    configure_logging(settings.log_level, settings.log_format)
    metrics.serve(settings, consumer_group(settings))
    client = connect(settings)  # connects lazily: nothing waits on MongoDB yet
    db = client[settings.mongo_db]
    owner = process_owner()
    try:
        stages = build_stages(settings, db, owner, system_clock)
    except AlertingConfigError as exc:
        await client.close()
        raise SystemExit(f"failstream alerting: {exc}") from exc  # one clear line, exit 1
    held = stages.mongo
    await held(lambda: ensure_indexes(db))  # MongoDB down at start: wait for it, as later
    tracker = OffsetTracker()
    lanes = SubjectLanes(settings.alerting_concurrency)
    letters: FailedSendLetters = stages.letters
    pipeline = AlertPipeline(
        settings,
        stages,
        on_handled=lambda d: tracker.finish(TopicPartition(d.topic, d.partition), d.offset),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    broker = kafka()
    consumer = await start_consumer(settings, consumer_group(settings), tracker, broker)
    log.info("alerting %s consuming %s as group %s", owner, settings.topic_alerts, consumer_group(settings))
    email_events = stages.email_events
    assert email_events is not None  # build_stages always builds it
    # scheduled summary emails
    reports = asyncio.create_task(run_reports(settings, db, email_events.publisher, owner, stop))
    # the relays wait out outages and end only on stop; the email events' own stop comes after
    # the last emails of a shutdown, so their events go out too
    email_stop = asyncio.Event()
    relay_tasks = [
        *_decision_tasks(settings, stages, stop),
        asyncio.create_task(email_events.run(email_stop)),
    ]
    watches = [
        asyncio.create_task(watch(consumer.topics, broker, KAFKA_OUTAGE, stop.is_set)),
        asyncio.create_task(watch(lambda: db.command("ping"), held.dependency, MONGO_ERRORS, stop.is_set)),
    ]
    flusher: asyncio.Task[None] | None = None
    limit = settings.alerting_concurrency * 4
    try:
        while not stop.is_set():
            for task in relay_tasks:
                if task.done():
                    task.result()  # they wait out outages and end only on stop: this is a bug, say so
            if flusher is not None and flusher.done():
                flusher.result()  # a bug in a send ends the process, as one in a lane does
                flusher = None
            if flusher is None and pipeline.ms_until_due() == 0:
                # in a task: a send waiting out an outage must not stop this loop from polling
                flusher = asyncio.create_task(pipeline.flush_due())
            due_ms = pipeline.ms_until_due()
            timeout_ms = POLL_MS if due_ms is None or flusher is not None else min(due_ms, POLL_MS)
            room = _apply_backpressure(consumer, lanes, limit)
            batches = await consumer.getmany(timeout_ms=timeout_ms, max_records=max(room, 1))
            for tp, records in batches.items():
                for record in records:
                    tracker.track(tp, record.offset)
                    lanes.submit(
                        record.key, partial(_handle_record, pipeline, letters, held, tracker, tp, record)
                    )
            lanes.raise_if_failed()
            await commit_finished(consumer, tracker, broker)
            await asyncio.sleep(0)  # getmany may return without suspending: let the lanes run
        await _finish_for_shutdown(lanes, pipeline, flusher)
        await commit_finished(consumer, tracker, broker)
    finally:
        stop.set()  # also on a crash: the report loop finishes its send and ends
        await _publish_last_email_events(email_events, email_stop)
        for probe in watches:
            probe.cancel()  # mid-probe of an absent dependency: no need to wait it out
        # a relay may wait out an outage: what it had not published is published at the next start,
        # or for email events by another process's relay (their outbox keeps them)
        for task in relay_tasks:
            task.cancel()
        await asyncio.gather(reports, *relay_tasks, *watches, return_exceptions=True)
        await consumer.stop()
        if stages.receivers is not None:
            await stages.receivers.aclose()
        await client.close()


#: On shutdown, how long the email event relay may take to publish what is left (the rest waits
#: in the outbox for the next process).
EMAIL_EVENTS_GRACE_S = 5.0


async def _publish_last_email_events(relay: EmailEventRelay, stop: asyncio.Event) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(relay.wait_idle(), EMAIL_EVENTS_GRACE_S)
    stop.set()


def _decision_tasks(
    settings: AlertingSettings, stages: Stages, stop: asyncio.Event
) -> list[asyncio.Task[None]]:
    """The relay onto the ``decisions`` topic and the expiry sweep; they end when ``stop`` is set."""
    relay = stages.relay
    if relay is None:
        return []
    store = relay.store
    return [
        asyncio.create_task(relay.run(stop)),
        asyncio.create_task(
            expire_decisions(store, stages.mongo, system_clock, settings.decision_sweep_s, stop, relay.wake)
        ),
    ]


async def _finish_for_shutdown(
    lanes: SubjectLanes, pipeline: AlertPipeline, flusher: asyncio.Task[None] | None
) -> None:
    async def finish() -> None:
        if flusher is not None:
            await flusher
        await lanes.drain()
        await pipeline.flush_all()

    try:
        await asyncio.wait_for(finish(), SHUTDOWN_GRACE_S)
    except TimeoutError:
        log.warning(
            "alerts still waiting for a dependency at shutdown: left uncommitted for the next process"
        )
        lanes.cancel()


if __name__ == "__main__":
    asyncio.run(run(AlertingSettings()))

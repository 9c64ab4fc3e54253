"""Faust wiring: topics, tables, the detection tasks and timers.

Detection state lives in tables whose values are the compact bytes the
detection modules encode; each table's changelog is co-partitioned with its
source topic (keys are the message keys and the producer partitions with
murmur2 like Kafka's Java client, so a key's changelog records land on its
own partition). No topic goes through Faust's per-event Stream: the
conductor puts each topic's messages into a buffer that one task takes in
batches (``batched_topic``, ``faust_internals``), and a batch's messages are
acked only once its alerts and changed states are acknowledged by the
broker. Failures, the hot path, reach their table in flushes
(``buffered_states``, ``table_writes``); email events, and the failures the
failures task forwards by network prefix to a repartition topic of this app
for the ``prefix-failures`` rule (docs/address-rotation.md), are written per
batch. Every await in the tasks and the timers is I/O, so they share the
loop without starving each other. MongoDB writes run in a child process with
a consumer group of its own (``persister``): a slow database delays the
counts, never an alert.
"""

from __future__ import annotations

import asyncio
import atexit
import gc
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

import faust
import uvloop

from failstream.events import Alert, DeadLetter, dumps, now_ms
from failstream.kafka_config import ensure_topics, faust_broker_options
from failstream.settings import StreamSettings
from failstream.stream_app import metrics, outages
from failstream.stream_app.alert_publisher import AlertPublisher
from failstream.stream_app.batched_topic import MessageBuffer, ack_all, subscribe_batched, take_batch
from failstream.stream_app.child_supervisor import ChildSupervisor
from failstream.stream_app.detection.prefix_batches import PrefixBatches
from failstream.stream_app.detection.prefix_forward import forwarded_records, repartition_topic
from failstream.stream_app.detection.prefixes import AddressPrefixes
from failstream.stream_app.faust_internals import DirectDeliveryApp
from failstream.stream_app.kafka_writes import until_acknowledged
from failstream.stream_app.live_counts import LiveCountsAccumulator
from failstream.stream_app.mongo.failures import Read
from failstream.stream_app.persister import persister_main
from failstream.stream_app.processing import EmailBatches, FailureBatches
from failstream.stream_app.published_alerts import PublishedAlerts
from failstream.stream_app.stall_watch import StallWatch
from failstream.stream_app.table_writes import changelog_partition, write_table

log = logging.getLogger("failstream.stream")

#: Set when a detection task ended while the worker was not stopping: the worker then exits 1.
task_died = threading.Event()


def app_data_dir(settings: StreamSettings) -> Path:
    """Where a Faust app of this app id keeps its worker files (created up to its parent, as Faust wants)."""
    datadir = settings.stream_data_dir / settings.stream_app_id
    datadir.parent.mkdir(parents=True, exist_ok=True)
    return datadir


def tune_collector() -> None:
    """The worker allocates a few objects per event and keeps tens of thousands
    of changed states between flushes; at Python's default thresholds the
    collector ran every 700 allocations and rescanned those states each
    time. Start-up objects are frozen out of every scan and young
    collections run 70 times less often: +35 % events/s, measured.
    """
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


def create_app(settings: StreamSettings) -> faust.App:
    datadir = app_data_dir(settings)
    app = DirectDeliveryApp(
        settings.stream_app_id,
        **faust_broker_options(settings),
        store="memory://",
        datadir=str(datadir),
        topic_partitions=settings.kafka_partitions,
        topic_replication_factor=settings.kafka_replication_factor,  # its changelogs as the topics
        table_standby_replicas=0,  # timers walk the table: only active partitions may be in it
        web_enabled=False,
        broker_session_timeout=settings.stream_session_timeout_s,
        consumer_group_instance_id=settings.stream_instance_id or None,
        broker_max_poll_records=settings.stream_batch_max,
        stream_buffer_maxsize=4 * settings.stream_batch_max,
        key_serializer="raw",
        value_serializer="raw",
        producer_linger=settings.stream_producer_linger_ms / 1000,
        producer_request_timeout=settings.stream_kafka_write_timeout_s,
    )
    live_topic = app.topic(settings.topic_live_counts, key_type=bytes, value_type=bytes)
    dead_topic = app.topic(settings.topic_dead_letters, key_type=bytes, value_type=bytes)
    table_options: dict[str, Any] = {
        "partitions": settings.kafka_partitions,
        "key_type": bytes,
        "value_type": bytes,  # bytes -> the "raw" codec: the value is the changelog record
        "use_partitioner": True,
    }
    ip_table = app.Table("ip-state", **table_options)
    email_table = app.Table("email-state", **table_options)
    # prefix-failures (docs/address-rotation.md): failures forwarded by prefix to a topic of
    # this app, co-partitioned with the table, so each prefix's failures meet on one worker
    prefix_topic_name = repartition_topic(settings)
    prefix_table = app.Table("prefix-state", **table_options)

    def buffer() -> MessageBuffer:
        return MessageBuffer(settings.stream_batch_max, high_water=4 * settings.stream_batch_max)

    failure_buffer, email_buffer, prefix_buffer = buffer(), buffer(), buffer()
    subscribe_batched(app, settings.topic_failed_requests, failure_buffer)
    subscribe_batched(app, settings.topic_email_events, email_buffer)
    # internal: created by Faust with the table's partitions, like its changelogs
    subscribe_batched(
        app, prefix_topic_name, prefix_buffer, internal=True, partitions=settings.kafka_partitions
    )

    live = LiveCountsAccumulator()
    failures = FailureBatches(settings, ip_table, None, live)
    emails = EmailBatches(settings, email_table, None, live)
    prefixes = PrefixBatches(settings, prefix_table)
    address_prefixes = AddressPrefixes.from_settings(settings)

    published = PublishedAlerts(settings)
    kafka = outages.kafka()

    @app.task
    async def read_published_alerts() -> None:
        await published.run()

    async def send_alert(alert: Alert) -> Awaitable[object]:
        # the producer itself, not Topic.send: no FutureMessage and no trip
        # through Faust's producer buffer for each alert of a burst
        ack: Awaitable[object] = await app.producer.send(
            settings.topic_alerts, alert.subject.encode(), dumps(alert), None, None, None
        )
        return ack

    publish = AlertPublisher(published, send_alert, kafka, on_sent=live.add_alerts).publish

    async def dead_letter(letters: Iterable[tuple[bytes | None, DeadLetter]]) -> None:
        sends = [partial(dead_topic.send, key=key, value=dumps(letter)) for key, letter in letters]
        await until_acknowledged(sends, kafka)

    @lru_cache(maxsize=4096)  # murmur2 is pure Python (5 µs); a rotating prefix comes back every batch
    def prefix_partition(key: bytes) -> int:
        return changelog_partition(key, settings.kafka_partitions)  # the prefix table's partition

    async def forward_prefixes(reads: list[Read]) -> None:
        """Each prefix's failures to the repartition topic, acknowledged before their messages are acked."""
        allowlist = failures.rules.allowlist
        for records in forwarded_records(reads, address_prefixes, allowlist, prefix_partition):
            sends = [
                partial(app.producer.send, prefix_topic_name, None, value, partition, None, None)
                for partition, value in records
            ]
            await until_acknowledged(sends, kafka)

    async def store_states() -> None:
        """The changed detection states into the table, acknowledged by its changelog."""
        changes = failures.states.take_changes()
        await write_table(app, ip_table, changes, kafka)
        metrics.CHANGELOG_RECORDS.inc(len(changes))

    # detection -> publish -> store must not interleave with a sweep of the same table
    ip_lock, email_lock, prefix_lock = asyncio.Lock(), asyncio.Lock(), asyncio.Lock()

    def essential(name: str, body: Callable[[StallWatch], Awaitable[None]]) -> None:
        """Run ``body`` as a task of the app; if it ever ends, stop the worker, non-zero.

        A detection task that died would leave its topic unread while the
        worker looks alive: stopping lets the supervisor start a new one,
        which reads on from the committed offsets.
        """
        watch = StallWatch(name)

        async def run() -> None:
            watch.started(asyncio.current_task())
            try:
                await body(watch)
            except BaseException as exc:
                if not app.should_stop:
                    log.critical("the %s ended (%r); stopping the worker", name, exc)
                    task_died.set()
                    os.kill(os.getpid(), signal.SIGTERM)
                raise

        async def check() -> None:
            watch.check()

        run.__name__ = run.__qualname__ = name.replace(" ", "_")  # Faust's traces and logs name it so
        app.task(run)
        app.timer(5.0, name=f"watch_{run.__name__}")(check)

    async def detect_failures(watch: StallWatch) -> None:
        """Batches of failures through detection; their states are flushed, then acked.

        The flush runs at most every ``stream_state_flush_s``, and at once
        when a rebalance closes flow control: the revocation waits for every
        taken message to be acked before it commits and hands partitions over.
        """
        unacked: list[Any] = []
        flushed_at = time.monotonic()
        while not app.should_stop:
            watch.beat()
            batch = await take_batch(app, failure_buffer, settings.stream_batch_within_s)
            metrics.BATCHED_TAKEN.inc(len(batch))
            if batch:
                decoded = failures.decode(batch)
                async with ip_lock:
                    await publish(failures.detect(decoded))
                await dead_letter(decoded.letters)
                await forward_prefixes(decoded.reads)
                metrics.count_batch(len(decoded.reads), len(decoded.letters), failures=True)
                unacked += batch
            due = time.monotonic() - flushed_at >= settings.stream_state_flush_s
            if unacked and (due or not app.flow_control.is_active()):
                async with ip_lock:
                    await store_states()
                ack_all(app, unacked)
                unacked = []
                flushed_at = time.monotonic()

    async def batches(
        buffer: MessageBuffer, watch: StallWatch, handle: Callable[[list[Any]], Awaitable[None]]
    ) -> None:
        """Each batch handled, then acked: its alerts and states acknowledged by the broker first.

        Not a Faust agent: ``take_events`` acks a batch in its ``finally`` even
        when the agent ends inside it, and Faust's stream acks every message it
        skips after a rebalance, so offsets could be committed past records
        whose states were never written (a restarted worker then counted
        their replayed copies in another order, and fired a second episode).
        """
        while not app.should_stop:
            watch.beat()
            batch = await take_batch(app, buffer, settings.stream_batch_within_s)
            if batch:
                await handle(batch)
                ack_all(app, batch)

    async def detect_emails(batch: list[Any]) -> None:
        async with email_lock:
            detected = emails.detect(batch)
            await publish(detected.alerts)
            await write_table(app, email_table, dict(detected.states), kafka)
        await dead_letter(detected.letters)
        metrics.count_batch(len(detected.reads), len(detected.letters), failures=False)

    async def detect_prefixes(batch: list[Any]) -> None:
        async with prefix_lock:
            alerts, changes = prefixes.detect(batch)
            await publish(alerts)
            # through the table's mapping API the writes would wait in Faust's buffer, whose
            # flush before a commit gives up after 0.1 s: a commit could pass unsent states
            await write_table(app, prefix_table, changes, kafka)

    essential("failures task", detect_failures)
    essential("email task", partial(batches, email_buffer, handle=detect_emails))
    essential("prefix task", partial(batches, prefix_buffer, handle=detect_prefixes))

    @app.task
    async def report_faust_monitor() -> None:
        metrics.watch_faust(app.monitor)  # the worker's own monitor exists once tasks run

    @app.task
    async def announce() -> None:
        log.info("Kafka %s over %s", settings.kafka_bootstrap_servers, settings.kafka_security_protocol)

    @app.timer(1.0)
    async def publish_live_counts() -> None:
        counts = live.flush(now_ms() // 1000 * 1000)
        await until_acknowledged([partial(live_topic.send, value=dumps(counts))], kafka)

    @app.timer(settings.stream_sweep_interval_s)
    async def resolve_quiet_episodes() -> None:
        async with ip_lock:
            await publish(failures.sweep(now_ms()))
            # written now, not at the failures task's next flush: with no failure
            # coming in there may be none before a rebalance hands the keys over.
            # Writing states ahead of their messages' acks is safe (a replay skips
            # the offsets a state already holds); acking ahead of the write is not.
            await store_states()
        async with email_lock:
            alerts, changes = emails.sweep(now_ms())
            await publish(alerts)
            await write_table(app, email_table, changes, kafka)
        async with prefix_lock:
            alerts, prefix_changes = prefixes.sweep(now_ms())
            await publish(alerts)
            await write_table(app, prefix_table, prefix_changes, kafka)

    return app


class SupervisingWorker(faust.Worker):
    """A Faust worker that stops restarting its children as soon as it begins to stop.

    A SIGTERM to the process group reaches the persister too; without this
    the supervisor would start a new one while the worker shuts down.
    """

    def __init__(self, app: faust.App, supervisor: ChildSupervisor | None, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.persister_supervisor = supervisor
        self.spinner = None  # no terminal spinner: Faust says "Ready" through our logging

    async def on_stop(self) -> None:
        if self.persister_supervisor is not None:
            self.persister_supervisor.stop()
        await super().on_stop()


def run_worker(settings: StreamSettings) -> None:
    ensure_topics(settings)
    supervisor: ChildSupervisor | None = None
    if settings.stream_persist:
        # MongoDB writes in a process of their own: neither their CPU nor the
        # database's pace can hold up detection (alert latency) on the loop here.
        def start_persister() -> multiprocessing.process.BaseProcess:
            child = multiprocessing.get_context("spawn").Process(
                target=persister_main, args=(settings, os.getpid()), name="failstream-persist", daemon=True
            )
            child.start()
            return child

        supervisor = ChildSupervisor(
            "persister",
            start_persister,
            on_restart=metrics.PERSISTER_RESTARTS.inc,
            on_give_up=lambda: os.kill(os.getpid(), signal.SIGTERM),  # Faust's own graceful stop
        )
        supervisor.start()
        atexit.register(supervisor.stop)  # runs before multiprocessing's exit hook ends the child
    metrics.serve_worker(settings)
    # uvloop: Faust spends most of a message's time in event-loop callbacks
    # (fetch -> conductor -> channel -> stream -> ack); measured +20 % events/s
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    app = create_app(settings)
    # logging is failstream.logs' (set up by the command): mode must not replace the root
    # handlers, redirect stdout into them, or print Faust's banner
    worker = SupervisingWorker(app, supervisor, quiet=True, override_logging=False)
    tune_collector()
    try:
        worker.execute_from_commandline()
    finally:
        if supervisor is not None:
            supervisor.stop()
        if task_died.is_set() or (supervisor is not None and supervisor.gave_up):
            raise SystemExit(1)

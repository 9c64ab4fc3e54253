"""The ``alerts`` consumer: started across a Kafka outage, committed only up to finished alerts.

aiokafka reconnects by itself once started, but ``start`` fails while no
broker answers, so it is retried with backoff (a fresh consumer each time).
While running, ``KafkaWatch`` asks the cluster for its metadata now and
then: that is the one public call that fails while the broker is away, so
the ``kafka`` dependency (log, gauge, ``/readyz``) shows the outage even
when no alert is due.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
from aiokafka.errors import KafkaError

from alerting.offsets import OffsetTracker
from failstream.dependency import Backoff, Dependency, until_done
from failstream.kafka_config import aiokafka_config
from failstream.settings import Settings

log = logging.getLogger("failstream.alerting")

#: Between two looks at the cluster, and how long one look may take before the broker counts as away.
WATCH_EVERY_S = 2.0
WATCH_TIMEOUT_S = 5.0
#: Backoff while starting the consumer with no broker answering.
START_BACKOFF_CAP_S = 5.0


class CommitOnRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, consumer: AIOKafkaConsumer, tracker: OffsetTracker, kafka: Dependency) -> None:
        self._consumer = consumer
        self._tracker = tracker
        self._kafka = kafka

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await commit_finished(self._consumer, self._tracker, self._kafka)
        self._tracker.forget(revoked)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        return None


async def commit_finished(consumer: AIOKafkaConsumer, tracker: OffsetTracker, kafka: Dependency) -> None:
    """Commit what is finished; on failure keep it for the next round (nothing is skipped or lost)."""
    offsets = tracker.committable()
    if not offsets:
        return
    try:
        await consumer.commit(offsets)  # type: ignore[arg-type]
    except KafkaError as exc:
        # a broker outage, or partitions that moved on; either way the fence makes a re-read harmless
        tracker.restore(offsets)
        kafka.down(exc)
        return
    kafka.back()


async def start_consumer(
    settings: Settings, group: str, tracker: OffsetTracker, kafka: Dependency
) -> AIOKafkaConsumer:
    """A started consumer subscribed to ``alerts``; waits (with backoff) until a broker answers."""

    async def start() -> AIOKafkaConsumer:
        consumer = AIOKafkaConsumer(
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **aiokafka_config(settings),
        )
        try:
            await consumer.start()
        except BaseException:
            await consumer.stop()
            raise
        consumer.subscribe([settings.topic_alerts], listener=CommitOnRevoke(consumer, tracker, kafka))
        return consumer

    return await until_done(start, kafka, (KafkaError, OSError), backoff=Backoff(0.5, START_BACKOFF_CAP_S))


async def watch_kafka(
    consumer: AIOKafkaConsumer, kafka: Dependency, stopped: Callable[[], bool], every_s: float = WATCH_EVERY_S
) -> None:
    """Mark the broker down or back from a cheap metadata request, until ``stopped``."""
    while not stopped():
        try:
            await asyncio.wait_for(consumer.topics(), WATCH_TIMEOUT_S)
        except (KafkaError, OSError, TimeoutError) as exc:
            kafka.down(exc)
        else:
            kafka.back()
        await asyncio.sleep(every_s)

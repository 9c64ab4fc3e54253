"""The ``alerts`` consumer: started across a Kafka outage, committed only up to finished alerts.

aiokafka reconnects by itself once started, but ``start`` fails while no
broker answers, so it is retried with backoff (a fresh consumer each time).
While running, the service asks the cluster for its metadata now and then
(``KAFKA_OUTAGE`` is what that raises while the broker is away), so the
``kafka`` dependency (log, gauge, ``/readyz``) shows an outage even when no
alert is due.
"""

from __future__ import annotations

import logging
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
from aiokafka.errors import KafkaError

from failstream.alerting.offsets import OffsetTracker
from failstream.dependency import Backoff, Dependency, until_done
from failstream.kafka_config import aiokafka_config
from failstream.settings import AlertingSettings

log = logging.getLogger("failstream.alerting")

#: What aiokafka raises while no broker answers.
KAFKA_OUTAGE: tuple[type[BaseException], ...] = (KafkaError, OSError)
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
    settings: AlertingSettings, group: str, tracker: OffsetTracker, kafka: Dependency
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

    return await until_done(start, kafka, KAFKA_OUTAGE, backoff=Backoff(0.5, START_BACKOFF_CAP_S))

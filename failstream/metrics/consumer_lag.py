"""Consumer lag per topic and partition, read from Kafka beside the consumer, never in it.

The lag is what the group has committed against each partition's end offset,
read by a thread every ``metrics_lag_interval_s`` with a confluent-kafka
client of its own that never joins the group. So the throughput-critical
consumers (Faust's agents, the persister, alerting) pay nothing per event,
and the number means what Kafka's own tools report: a scrape shows lag even
when the consumer itself is stuck.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence

from confluent_kafka import Consumer, KafkaException, TopicPartition
from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from failstream.kafka_config import confluent_config
from failstream.settings import KafkaSettings

log = logging.getLogger("failstream.metrics.lag")

#: Each Kafka request of one reading waits at most this long.
REQUEST_TIMEOUT_S = 5.0


def partition_lag(low: int, high: int, committed: int) -> int:
    """Messages the group has still to consume from one partition.

    A group that has committed nothing (librdkafka reports a negative
    offset) starts at the oldest message, as our consumers are configured to,
    and a committed offset below the retention floor counts from that floor.
    """
    start = max(committed if committed >= 0 else low, low)
    return max(high - start, 0)


class ConsumerLagCollector(Collector):
    """Reports the last reading as ``failstream_kafka_consumer_lag{group,topic,partition}``."""

    def __init__(self, group: str) -> None:
        self.group = group
        self._lag: dict[tuple[str, int], int] = {}

    def update(self, lag: dict[tuple[str, int], int]) -> None:
        self._lag = lag  # one reference swap: a scrape sees a whole reading or the previous one

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "failstream_kafka_consumer_lag",
            "Messages not yet consumed: partition end offset minus the group's committed offset",
            labels=["group", "topic", "partition"],
        )
        for (topic, partition), lag in sorted(self._lag.items()):
            family.add_metric([self.group, topic, str(partition)], lag)
        yield family


class ConsumerLagReader:
    """Reads one group's lag on the given topics, with a client that never joins the group."""

    def __init__(self, settings: KafkaSettings, group: str, topics: Sequence[str]) -> None:
        self.topics = tuple(topics)
        self._client = Consumer(
            {
                **confluent_config(settings),
                "group.id": group,
                "enable.auto.commit": False,
                # a failed read is reported by ``report_consumer_lag``; librdkafka's own lines
                # repeated each connection failure on stderr, thousands a minute in a broker outage
                "log_level": 0,
            }
        )

    def read(self) -> dict[tuple[str, int], int]:
        metadata = self._client.list_topics(timeout=REQUEST_TIMEOUT_S)
        partitions = [
            TopicPartition(topic, p)
            for topic in self.topics
            if topic in metadata.topics
            for p in sorted(metadata.topics[topic].partitions)
        ]
        if not partitions:
            return {}
        committed = self._client.committed(partitions, timeout=REQUEST_TIMEOUT_S)
        lag: dict[tuple[str, int], int] = {}
        for tp in committed:
            low, high = self._client.get_watermark_offsets(
                TopicPartition(tp.topic, tp.partition), timeout=REQUEST_TIMEOUT_S, cached=False
            )
            lag[(tp.topic, tp.partition)] = partition_lag(low, high, tp.offset)
        return lag

    def close(self) -> None:
        self._client.close()


def report_consumer_lag(
    settings: KafkaSettings, group: str, topics: Sequence[str], interval_s: float
) -> threading.Event:
    """Publish ``group``'s lag on ``topics`` every ``interval_s`` from a daemon thread.

    Set the returned event to stop it.
    """
    collector = ConsumerLagCollector(group)
    REGISTRY.register(collector)
    stop = threading.Event()

    def loop() -> None:
        reader = ConsumerLagReader(settings, group, topics)
        try:
            while not stop.is_set():
                try:
                    collector.update(reader.read())
                except KafkaException as exc:
                    # the last reading stays: a broker outage shows as lag that stops moving
                    log.warning("consumer lag of %s not read: %s", group, exc)
                stop.wait(interval_s)
        finally:
            reader.close()

    threading.Thread(target=loop, name=f"consumer-lag-{group}", daemon=True).start()
    return stop

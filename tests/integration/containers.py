"""Kafka and MongoDB in throw-away containers (testcontainers), where a Docker engine answers.

Imported only when the tests run on containers, so testcontainers and the
Docker client load nowhere else. The SMTP sink stays the local one.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from pydantic import SecretStr

from failstream.settings import Settings

# cp-kafka 7.9 is Apache Kafka 3.9, the broker the local stack runs; testcontainers'
# KafkaContainer drives Confluent's image scripts, so it is the image it supports.
KAFKA_IMAGE = "confluentinc/cp-kafka:7.9.0"
MONGO_IMAGE = "mongo:7.0.14"
START_TIMEOUT_S = 120


@contextmanager
def kafka_and_mongodb(base: Settings) -> Iterator[Settings]:
    """``base`` pointed at a fresh KRaft broker and MongoDB; both removed on exit.

    testcontainers' reaper (Ryuk) also removes them if the session dies.
    """
    from pymongo import MongoClient

    with ExitStack() as stack:
        with _their_deprecations_ignored():
            from testcontainers.community.kafka import KafkaContainer
            from testcontainers.community.mongodb import MongoDbContainer

            kafka = KafkaContainer(KAFKA_IMAGE).with_kraft()
            # as the local broker is configured (failstream/infra/kafka.py)
            kafka.with_env("KAFKA_NUM_PARTITIONS", str(base.kafka_partitions))
            kafka.with_env("KAFKA_OFFSETS_TOPIC_NUM_PARTITIONS", "8")
            kafka.with_env("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1")
            kafka.with_env("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1")
            kafka.with_env("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "true")
            kafka.start(timeout=START_TIMEOUT_S)
            stack.callback(_stop, kafka)
            mongo = MongoDbContainer(MONGO_IMAGE)
            mongo.start()
            stack.callback(_stop, mongo)
            bootstrap = kafka.get_bootstrap_server()
            mongo_uri = mongo.get_connection_url()
        # the image's entrypoint first runs a private mongod (to create the user), whose
        # log line the wait strategy may match: wait until the real one answers
        with MongoClient(mongo_uri, serverSelectionTimeoutMS=START_TIMEOUT_S * 1000) as client:
            client.admin.command("ping")
        yield base.model_copy(
            update={"kafka_bootstrap_servers": bootstrap, "mongo_uri": SecretStr(mongo_uri)}
        )


@contextmanager
def _their_deprecations_ignored() -> Iterator[None]:
    """The suite turns warnings into errors; a deprecation inside testcontainers or
    docker-py is not ours to fix and must not fail every integration test."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def _stop(container: Any) -> None:
    with _their_deprecations_ignored():
        container.stop()

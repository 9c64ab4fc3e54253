"""Which Kafka errors mean "the broker is away" for the stream worker and its persister.

MongoDB's are ``failstream.mongo_outage``'s, shared with alerting.

Those are waited out (``failstream.dependency.until_done``) with the batch
held and its offsets uncommitted; any other error is a bug and propagates.
"""

from __future__ import annotations

from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError, RecordTooLargeError

from failstream.dependency import Dependency

KAFKA_ERRORS: tuple[type[BaseException], ...] = (KafkaError,)


def kafka_outage(exc: BaseException) -> bool:
    """A Kafka error worth waiting out: not a lost group membership, a bad record or a misuse."""
    return not isinstance(exc, CommitFailedError | IllegalStateError | RecordTooLargeError)


def mongodb() -> Dependency:
    return Dependency.named("mongodb")


def kafka() -> Dependency:
    return Dependency.named("kafka")

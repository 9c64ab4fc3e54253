"""The API's view of MongoDB and Kafka between requests: a gauge, one log line per change.

Requests already answer 503 while MongoDB is away and ``/readyz`` probes on
demand; this loop runs the same probes every few seconds so that
``failstream_dependency_up`` and the log tell an operator when the API lost
a dependency and when it came back, and creates the API's indexes once
MongoDB answers (a database down at start-up must not leave them missing).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from failstream.api import readiness
from failstream.api.indexes import ensure_api_indexes
from failstream.dependency import Dependency
from failstream.settings import ApiSettings

log = logging.getLogger("failstream.api")

INTERVAL_S = 5.0


class ProbeFailed(Exception):
    """A readiness probe answered something other than "ok"."""


def _seen(dependency: Dependency, answer: str) -> bool:
    if answer == "ok":
        dependency.back()
        return True
    dependency.down(ProbeFailed(answer))
    return False


async def watch(
    db: AsyncDatabase[dict[str, Any]], settings: ApiSettings, interval_s: float = INTERVAL_S
) -> None:
    mongodb, kafka = Dependency.named("mongodb"), Dependency.named("kafka")
    probe_kafka = readiness.KafkaProbe(settings)
    indexed = False
    while True:
        mongo_answer, kafka_answer = await asyncio.gather(readiness.mongodb(db), probe_kafka())
        if _seen(mongodb, mongo_answer) and not indexed:
            indexed = await ensure_api_indexes(db)
        _seen(kafka, kafka_answer)
        await asyncio.sleep(interval_s)


@asynccontextmanager
async def watching(db: AsyncDatabase[dict[str, Any]], settings: ApiSettings) -> AsyncIterator[None]:
    task = asyncio.create_task(watch(db, settings))
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

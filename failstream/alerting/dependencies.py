"""The outside services alerting waits for instead of exiting: MongoDB, the SMTP relay, Kafka.

Each is one ``failstream.dependency.Dependency`` (one log line per change, the
``failstream_dependency_up`` gauge, ``/readyz``). ``Held`` runs a MongoDB
operation until it succeeds, so an outage holds the alert in place (its Kafka
offset uncommitted) rather than ending the process. Backoff caps are short:
held work must resume within seconds of the dependency's return.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from failstream.dependency import Backoff, Dependency, until_done
from failstream.mongo_outage import MONGO_ERRORS, is_mongo_outage

T = TypeVar("T")
#: Backoff of one held operation; MongoDB's server selection already waits a few seconds per try.
MONGO_BACKOFF_FIRST_S = 0.2
MONGO_BACKOFF_CAP_S = 3.0
#: Probing an unreachable SMTP relay: a held email goes out within this long of the relay's return.
SMTP_BACKOFF_FIRST_S = 0.5
SMTP_BACKOFF_CAP_S = 5.0


def mongodb() -> Dependency:
    return Dependency.named("mongodb")


def smtp() -> Dependency:
    return Dependency.named("smtp")


def kafka() -> Dependency:
    return Dependency.named("kafka")


def smtp_backoff() -> Backoff:
    return Backoff(SMTP_BACKOFF_FIRST_S, SMTP_BACKOFF_CAP_S)


@dataclass
class Held:
    """Run MongoDB operations until they succeed, marking MongoDB down meanwhile."""

    dependency: Dependency = field(default_factory=mongodb)

    async def __call__(self, operation: Callable[[], Awaitable[T]]) -> T:
        backoff = Backoff(MONGO_BACKOFF_FIRST_S, MONGO_BACKOFF_CAP_S)
        return await until_done(
            operation, self.dependency, MONGO_ERRORS, retryable=is_mongo_outage, backoff=backoff
        )


#: Between two looks at an idle dependency; what waits on it says so sooner.
WATCH_EVERY_S = 2.0


async def watch(
    probe: Callable[[], Awaitable[object]],
    dependency: Dependency,
    outage: tuple[type[BaseException], ...],
    stopped: Callable[[], bool],
    *,
    timeout_s: float = 5.0,
    every_s: float = WATCH_EVERY_S,
) -> None:
    """Mark ``dependency`` down or back from a cheap ``probe``, until ``stopped``.

    Without it an idle process (no alert due) would show a dependency up
    that is away, or keep showing one down that a failed report run left
    down; with it, ``/readyz`` tells the truth within a few seconds.
    """
    counted: tuple[type[BaseException], ...] = (*outage, TimeoutError)
    while not stopped():
        started = time.monotonic()
        try:
            await asyncio.wait_for(probe(), timeout_s)
        except counted as exc:
            dependency.down(exc)
        else:
            dependency.back(attempt_started=started)
        await asyncio.sleep(every_s)

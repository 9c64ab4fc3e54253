"""Readiness probes: can this process reach MongoDB and Kafka right now?

Each check answers "ok" or a short reason within a bounded time, so /readyz
never hangs on a dead dependency. The Kafka client is made once and reused:
building one per probe would cost a connection each time. Nothing here
blocks the event loop: MongoDB is pinged with the async driver and the
Kafka metadata call (librdkafka, blocking) runs in a worker thread.

``ReadinessCheck`` puts a one-second cache and a single flight in front of
the probes: a flood of ``/readyz`` (every replica's kubelet, a load
balancer, an attacker) costs one probe per second, not one thread and one
broker round trip per request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from confluent_kafka.admin import AdminClient
from pymongo.asynchronous.database import AsyncDatabase

from failstream.kafka_config import confluent_config
from failstream.settings import ApiSettings

TIMEOUT_S = 3.0


async def mongodb(db: AsyncDatabase[dict[str, Any]]) -> str:
    try:
        await asyncio.wait_for(db.command("ping"), TIMEOUT_S)
    except Exception as exc:  # any failure means "not ready", with its reason
        return f"error: {type(exc).__name__}"
    return "ok"


class KafkaProbe:
    def __init__(self, settings: ApiSettings) -> None:
        self._settings = settings
        self._admin: AdminClient | None = None

    def _check(self) -> str:
        if self._admin is None:
            # the answer is the report (readiness, the dependency gauge and its one log line per
            # change); librdkafka's own lines would repeat every failed reconnect on stderr
            self._admin = AdminClient({**confluent_config(self._settings), "log_level": 0})
        metadata = self._admin.list_topics(timeout=TIMEOUT_S)
        return "ok" if metadata.brokers else "error: no brokers"

    async def __call__(self) -> str:
        try:
            return await asyncio.wait_for(asyncio.to_thread(self._check), TIMEOUT_S + 1)
        except Exception as exc:  # KafkaException, timeout: not ready
            return f"error: {type(exc).__name__}"


Probe = Callable[[], Awaitable[str]]

#: how long one readiness answer is shared by every caller
CACHE_S = 1.0


class ReadinessCheck:
    """The probes' answers, computed at most once per ``ttl_s`` and shared by concurrent callers."""

    def __init__(
        self,
        probes: Mapping[str, Probe],
        *,
        ttl_s: float = CACHE_S,
        clock: Callable[[], float] = time.monotonic,
        on_probe: Callable[[], None] = lambda: None,
    ) -> None:
        self._probes = dict(probes)
        self._ttl_s = ttl_s
        self._clock = clock
        self._on_probe = on_probe
        self._answer: dict[str, str] | None = None
        self._at = 0.0
        self._inflight: asyncio.Task[dict[str, str]] | None = None

    async def checks(self) -> dict[str, str]:
        """``{dependency: "ok" | "error: ..."}``, at most ``ttl_s`` old."""
        if self._answer is not None and self._clock() - self._at <= self._ttl_s:
            return self._answer
        if self._inflight is None:
            self._inflight = asyncio.create_task(self._probe())
            self._inflight.add_done_callback(self._landed)
        # shielded: a caller that disconnects does not cancel the probe the others wait for
        return dict(await asyncio.shield(self._inflight))

    async def _probe(self) -> dict[str, str]:
        self._on_probe()
        names = list(self._probes)
        answers = await asyncio.gather(*(self._probes[n]() for n in names))
        return dict(zip(names, answers, strict=True))

    def _landed(self, task: asyncio.Task[dict[str, str]]) -> None:
        self._inflight = None
        if not task.cancelled() and task.exception() is None:
            self._answer, self._at = task.result(), self._clock()

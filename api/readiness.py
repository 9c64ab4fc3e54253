"""Readiness probes: can this process reach MongoDB and Kafka right now?

Each check answers "ok" or a short reason within a bounded time, so /readyz
never hangs on a dead dependency. The Kafka client is made once and reused:
building one per probe would cost a connection each time.
"""

from __future__ import annotations

import asyncio
from typing import Any

from confluent_kafka.admin import AdminClient
from pymongo.asynchronous.database import AsyncDatabase

from failstream.kafka_config import confluent_config
from failstream.settings import Settings

TIMEOUT_S = 3.0


async def mongodb(db: AsyncDatabase[dict[str, Any]]) -> str:
    try:
        await asyncio.wait_for(db.command("ping"), TIMEOUT_S)
    except Exception as exc:  # any failure means "not ready", with its reason
        return f"error: {type(exc).__name__}"
    return "ok"


class KafkaProbe:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._admin: AdminClient | None = None

    def _check(self) -> str:
        if self._admin is None:
            self._admin = AdminClient(confluent_config(self._settings))
        metadata = self._admin.list_topics(timeout=TIMEOUT_S)
        return "ok" if metadata.brokers else "error: no brokers"

    async def __call__(self) -> str:
        try:
            return await asyncio.wait_for(asyncio.to_thread(self._check), TIMEOUT_S + 1)
        except Exception as exc:  # KafkaException, timeout: not ready
            return f"error: {type(exc).__name__}"

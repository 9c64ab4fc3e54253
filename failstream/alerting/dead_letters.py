"""Dead letters for alerts whose email failed for good, so `failstream alerts redrive` can re-send them.

One document per original Kafka record (``_id`` = ``<topic>:<partition>:<offset>``,
the shared DeadLetter shape) plus ``email_id`` (the failed email) and
``redriven_at`` once re-sent. Malformed alert records land here too, without
``email_id``, since there is nothing to re-send.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from failstream.alerting.clock import Clock
from failstream.alerting.delivery import AlertDelivery


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


class FailedSendLetters:
    def __init__(self, dead_letters: AsyncCollection[dict[str, Any]], clock: Clock) -> None:
        self._letters = dead_letters
        self._clock = clock

    async def record_failed_send(
        self, deliveries: Sequence[AlertDelivery], email_id: str, error: str
    ) -> None:
        now = self._clock()
        for d in deliveries:
            await self._letters.update_one(
                {"_id": d.dead_letter_id},
                {
                    "$set": {
                        "v": 1,
                        "ts": now,
                        "source_topic": d.topic,
                        "partition": d.partition,
                        "offset": d.offset,
                        "key_b64": _b64(d.key),
                        "value_b64": _b64(d.value),
                        "error": error,
                        "alert_key": d.alert.alert_key,
                        "email_id": email_id,
                        "redriven_at": None,
                    }
                },
                upsert=True,
            )

    async def record_failed_delivery(
        self, d: AlertDelivery, receiver: str, delivery_key: str, error: str
    ) -> None:
        """An alert a receiver (webhook, Slack, Alertmanager) failed for good.

        Its own ``_id`` (``<topic>:<partition>:<offset>|<receiver>``), so it never
        overwrites the letter of a failed email of the same record, and no
        ``email_id``, so ``failstream alerts redrive`` never emails it.
        """
        await self._letters.update_one(
            {"_id": f"{d.dead_letter_id}|{receiver}"},
            {
                "$set": {
                    "v": 1,
                    "ts": self._clock(),
                    "source_topic": d.topic,
                    "partition": d.partition,
                    "offset": d.offset,
                    "key_b64": _b64(d.key),
                    "value_b64": _b64(d.value),
                    "error": error,
                    "alert_key": d.alert.alert_key,
                    "receiver": receiver,
                    "delivery_key": delivery_key,
                    "redriven_at": None,
                }
            },
            upsert=True,
        )

    async def record_malformed(
        self, topic: str, partition: int, offset: int, key: bytes | None, value: bytes, error: str
    ) -> None:
        await self._letters.update_one(
            {"_id": f"{topic}:{partition}:{offset}"},
            {
                "$set": {
                    "v": 1,
                    "ts": self._clock(),
                    "source_topic": topic,
                    "partition": partition,
                    "offset": offset,
                    "key_b64": _b64(key),
                    "value_b64": _b64(value),
                    "error": error[:2000],
                }
            },
            upsert=True,
        )

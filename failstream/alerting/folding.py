"""Rate-limited alerts are not forgotten: the next email that leaves names them.

They stay in ``alerts`` as ``status: suppressed, suppressed_by: rate_limit``
(visible to the API) until an email folds them in and records ``folded_into``.
Silenced alerts are not folded: a silence means "don't tell me".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from failstream.alerting.render import FoldedAlert

MAX_FOLDED = 200

_BACKLOG = {"status": "suppressed", "suppressed_by": "rate_limit", "folded_into": None}


class RateLimitedBacklog:
    def __init__(self, alerts: AsyncCollection[dict[str, Any]]) -> None:
        self._alerts = alerts

    async def take(self, exclude: Sequence[str] = ()) -> tuple[list[str], list[FoldedAlert]]:
        keys: list[str] = []
        folded: list[FoldedAlert] = []
        cursor = self._alerts.find(_BACKLOG).sort("updated_at", 1).limit(MAX_FOLDED)
        async for doc in cursor:
            if doc["_id"] in exclude:
                continue
            keys.append(str(doc["_id"]))
            folded.append(
                FoldedAlert(
                    rule=str(doc.get("rule", "")),
                    subject=str(doc.get("subject", "")),
                    count=int(doc.get("count", 0)),
                    at=int(doc.get("updated_at", 0)),
                )
            )
        return keys, folded

    async def mark_folded(self, keys: Sequence[str], email_id: str) -> None:
        if keys:
            await self._alerts.update_many({"_id": {"$in": list(keys)}}, {"$set": {"folded_into": email_id}})

    async def count(self) -> int:
        return await self._alerts.count_documents(_BACKLOG)

"""The fence on the real MongoDB-compatible server: racing processes, one winner."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from alerting.fence import AlertFence, Claimed
from failstream.settings import Settings
from producer.events import now_ms
from tests.integration.alerting.harness import Mongo

pytestmark = pytest.mark.integration


async def test_two_processes_taking_over_the_same_expired_claims_at_once_win_each_key_once(
    alerting_settings: Settings, mongo: Mongo
) -> None:
    keys = [f"ip:10.9.0.{i}:1" for i in range(60)]
    expired = now_ms() - 1
    mongo.db.alerts.insert_many(
        [{"_id": k, "status": "claimed", "owner": "dead", "lease_until": expired} for k in keys]
    )
    uri = alerting_settings.mongo_uri.get_secret_value()
    clients: list[AsyncMongoClient[dict[str, Any]]] = [AsyncMongoClient(uri), AsyncMongoClient(uri)]
    fences = [
        AlertFence(c[alerting_settings.mongo_db].alerts, f"heir-{i}", 60_000, now_ms)
        for i, c in enumerate(clients)
    ]
    try:
        for key in keys:  # each key claimed by both heirs at the same moment
            decisions = await asyncio.gather(*(f.claim_key(key, {}) for f in fences))
            winners = [f.owner for f, d in zip(fences, decisions, strict=True) if isinstance(d, Claimed)]
            stored = mongo.alert(key)
            assert stored is not None
            assert winners == [stored["owner"]], f"{key}: {winners} claimed, {stored['owner']} stored"
            assert stored["takeovers"] == 1
    finally:
        for c in clients:
            await c.close()

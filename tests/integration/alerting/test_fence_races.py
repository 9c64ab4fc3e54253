"""The fence on the real MongoDB-compatible server: racing processes, one winner."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from failstream.alerting.fence import AlertFence, Claimed
from failstream.events import now_ms
from failstream.settings import Settings
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


async def test_a_late_finish_racing_a_take_over_of_the_same_claims_lets_exactly_one_act(
    alerting_settings: Settings, mongo: Mongo
) -> None:
    uri = alerting_settings.mongo_uri.get_secret_value()
    clients: list[AsyncMongoClient[dict[str, Any]]] = [AsyncMongoClient(uri), AsyncMongoClient(uri)]
    clock = [now_ms()]
    owner, heir = (
        AlertFence(c[alerting_settings.mongo_db].alerts, name, 5_000, lambda: clock[0])
        for c, name in zip(clients, ("owner", "heir"), strict=True)
    )
    keys = [f"ip:10.9.1.{i}:1" for i in range(60)]
    try:
        claims = [await owner.claim_key(key, {}) for key in keys]
        outcomes: list[bool] = []
        clock[0] += 5_000  # the owner's lease ran out while it sent (MongoDB away, say)
        for i, claim in enumerate(claims):
            assert isinstance(claim, Claimed)

            async def late_finish(claim: Claimed = claim, delay_s: float = (i % 10) * 0.002) -> list[Claimed]:
                await asyncio.sleep(delay_s)  # spread the finish over the heir's round trips
                return await owner.finish([claim], "sent")

            lost, taken = await asyncio.gather(late_finish(), heir.claim_key(claim.key, {}))
            stored = mongo.alert(claim.key) or {}
            outcomes.append(bool(lost))
            if lost:  # the heir's take-over came first: it owns the alert and sends it
                assert isinstance(taken, Claimed) and stored["owner"] == "heir", (claim.key, stored)
                assert stored["status"] == "claimed"
            else:  # the finish came first: nobody may send it again
                assert not isinstance(taken, Claimed), (claim.key, taken)
                assert stored["status"] == "sent", (claim.key, stored)
        print(f"\nfinish first: {outcomes.count(False)}, take-over first: {outcomes.count(True)}")
    finally:
        for c in clients:
            await c.close()

"""A batch's raw insert as two ``insert_many`` at once, on the backend that takes one write at a time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from failstream.events import FailedRequest, new_event_id
from failstream.settings import Settings
from failstream.stream_app.mongo import failures
from failstream.stream_app.mongo.client import ensure_indexes
from failstream.stream_app.mongo.failures import Read, persist_failures
from tests.integration.throwaway import ThrowawayFerretDB

pytestmark = pytest.mark.integration

T0 = 1_800_000_000_000
BATCH = 16_000  # the persister's default batch: two inserts of 8,000 at once


@pytest.fixture
def sqlite_ferretdb(settings: Settings, tmp_path: Path) -> Iterator[ThrowawayFerretDB]:
    db = ThrowawayFerretDB(settings.model_copy(update={"infra_ferretdb_backend": "sqlite"}), tmp_path)
    db.start()
    yield db
    db.kill()


def _reads(n: int, offset0: int) -> list[Read]:
    return [
        Read(
            FailedRequest(
                event_id=new_event_id(),
                ts=T0 + i,
                service="demo",
                ip=f"10.6.0.{i % 4}",
                method="GET",
                route="/a",
                status=401,
                reason="invalid_token",
            ),
            partition=0,
            offset=offset0 + i,
        )
        for i in range(n)
    ]


async def test_batches_inserted_two_at_once_on_sqlite_store_and_count_every_failure_once(
    sqlite_ferretdb: ThrowawayFerretDB, settings: Settings
) -> None:
    assert failures.INSERTS_AT_ONCE == 2 and BATCH // 2 >= failures.SPLIT_FROM
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        sqlite_ferretdb.settings.mongo_uri.get_secret_value()
    )
    try:
        db = client[settings.mongo_db]
        await ensure_indexes(db)
        for k in range(3):
            await persist_failures(db, _reads(BATCH, offset0=k * BATCH))
        assert await db.failures.count_documents({}) == 3 * BATCH
        totals = {d["_id"]: d["total"] async for d in db.ip_stats.find({}, {"total": 1})}
        assert totals == {f"10.6.0.{i}": 3 * BATCH // 4 for i in range(4)}
        assert sum([d["total"] async for d in db.minute_counts.find({}, {"total": 1})]) == 3 * BATCH
    finally:
        await client.close()

"""Updates in flight whose every statement matches a document, against FerretDB's connection pool.

FerretDB 1.24 holds the backend connection of a matching statement's read
until the statement ends and takes one more for its write: when every
connection of the pool is held by a statement waiting for its write, the
server waits forever and answers nothing more. The persister's statements in
flight must fit, several persisters at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from failstream.settings import Settings
from failstream.stream_app.mongo import guarded_counts
from failstream.stream_app.mongo.guarded_counts import IN_FLIGHT, PERSISTERS_PER_POOL, Contribution, Delta
from tests.integration.throwaway import ThrowawayFerretDB

DOCS_PER_WRITER = 4 * IN_FLIGHT


def _contributions(writer: int, offset: int) -> list[Contribution]:
    """One increment per document of this writer's partition, past the mark it holds."""
    out = []
    for i in range(DOCS_PER_WRITER):
        delta = Delta()
        delta.count("total")
        out.append(Contribution(f"w{writer}-d{i}", writer, offset, delta))
    return out


@pytest.fixture
def own_ferretdb(
    settings: Settings, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[ThrowawayFerretDB]:
    pool = getattr(request, "param", settings.infra_ferretdb_pool_size)
    db = ThrowawayFerretDB(settings.model_copy(update={"infra_ferretdb_pool_size": pool}), tmp_path)
    db.start()
    yield db
    db.kill()  # a hung server does not stop on SIGTERM


async def _write_all(uri: str, database: str, writers: int, offset: int) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, serverSelectionTimeoutMS=5000)
    try:
        coll = client[database].ip_stats
        await asyncio.gather(
            *(guarded_counts.apply(coll, _contributions(w, offset), skeleton={}) for w in range(writers))
        )
    finally:
        await client.close()


async def test_persisters_whose_every_update_in_flight_matches_never_exhaust_the_pool(
    own_ferretdb: ThrowawayFerretDB, settings: Settings
) -> None:
    uri = own_ferretdb.settings.mongo_uri.get_secret_value()
    # the first pass creates the documents, so every update of the second matches one
    for offset in (0, 1):
        await asyncio.wait_for(_write_all(uri, settings.mongo_db, PERSISTERS_PER_POOL, offset=offset), 60)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri)
    try:
        docs = await client[settings.mongo_db].ip_stats.find({}, {"total": 1}).to_list(None)
    finally:
        await client.close()
    assert len(docs) == PERSISTERS_PER_POOL * DOCS_PER_WRITER
    assert {d["total"] for d in docs} == {2}


@pytest.mark.parametrize("own_ferretdb", [2], indirect=True)
async def test_more_matching_updates_in_flight_than_the_pool_has_connections_hang_the_server(
    own_ferretdb: ThrowawayFerretDB, settings: Settings
) -> None:
    """The hazard ``IN_FLIGHT`` avoids, shown on a pool smaller than it."""
    if settings.infra_ferretdb_backend != "postgresql":
        pytest.skip("the pool size is a setting of the PostgreSQL backend only")
    uri = own_ferretdb.settings.mongo_uri.get_secret_value()
    # creating the documents holds nothing (a statement that matches none releases its read)
    await asyncio.wait_for(_write_all(uri, settings.mongo_db, 1, offset=0), 60)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(_write_all(uri, settings.mongo_db, 1, offset=1), 15)

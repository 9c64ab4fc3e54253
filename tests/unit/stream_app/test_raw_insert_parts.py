"""A batch's raw insert in parts: a part the server refused is inserted again alone, nothing lost."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pymongo.errors import BulkWriteError, OperationFailure

from failstream.stream_app.mongo import failures


class OneWriterStore:
    """A store that refuses ``times`` inserts of a part beginning with ``refused_id``, after
    storing its first ``stored_first`` documents, as FerretDB on SQLite may (SQLITE_BUSY)."""

    def __init__(self, refused_id: str, stored_first: int, times: int = 1) -> None:
        self.docs: dict[str, dict[str, Any]] = {}
        self.inserts: list[int] = []
        self.refused_id, self.stored_first, self.times = refused_id, stored_first, times

    async def insert_many(self, docs: list[dict[str, Any]], ordered: bool) -> None:
        assert not ordered
        self.inserts.append(len(docs))
        await asyncio.sleep(0)
        if docs[0]["_id"] == self.refused_id and self.times > 0:
            self.times -= 1
            self.docs.update((d["_id"], d) for d in docs[: self.stored_first])
            raise OperationFailure("database is locked (5) (SQLITE_BUSY)", 1)
        errors = [{"index": i, "code": 11000} for i, d in enumerate(docs) if d["_id"] in self.docs]
        self.docs.update((d["_id"], d) for d in docs if d["_id"] not in self.docs)
        if errors:
            raise BulkWriteError({"writeErrors": errors})

    async def find_one(self, query: dict[str, Any], projection: dict[str, Any]) -> dict[str, Any] | None:
        return self.docs.get(query["_id"])


def _docs(n: int) -> list[dict[str, Any]]:
    return [{"_id": f"e{i}", "partition": 0, "offset": i} for i in range(n)]


@pytest.mark.parametrize("stored_first", [0, 300])
async def test_a_refused_part_is_inserted_again_alone_and_every_document_of_it_counts(
    stored_first: int,
) -> None:
    docs = _docs(2 * failures.SPLIT_FROM)
    half = failures.SPLIT_FROM
    store = OneWriterStore(refused_id=docs[half]["_id"], stored_first=stored_first)
    # a re-sent copy stored before from another offset counts for nothing, in either part
    store.docs["e7"] = {"_id": "e7", "partition": 1, "offset": 99}
    due = await failures.first_placed(store, docs, asyncio.Semaphore(4))  # type: ignore[arg-type]
    assert store.inserts == [half, half, half]  # both parts at once, then the refused one alone
    assert due == [i != 7 for i in range(len(docs))]
    assert len(store.docs) == len(docs)


async def test_a_part_refused_again_when_alone_raises_its_error() -> None:
    docs = _docs(2 * failures.SPLIT_FROM)
    store = OneWriterStore(refused_id=docs[0]["_id"], stored_first=0, times=2)
    with pytest.raises(OperationFailure):
        await failures.first_placed(store, docs, asyncio.Semaphore(4))  # type: ignore[arg-type]
    assert store.inserts == [failures.SPLIT_FROM] * 3


async def test_no_documents_insert_nothing() -> None:
    store = OneWriterStore(refused_id="", stored_first=0)
    assert await failures.first_placed(store, [], asyncio.Semaphore(4)) == []  # type: ignore[arg-type]
    assert store.inserts == []

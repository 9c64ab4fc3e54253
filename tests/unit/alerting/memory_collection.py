"""A dict-backed stand-in for the few collection calls the fence makes, for unit tests.

Equality, ``$in`` and ``$lte`` filters, ``$set`` updates, a unique ``_id``: enough to
drive the fence's decisions without a server. The real server's behaviour
(races included) is proven in tests/integration/alerting/test_fence_races.py.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from pymongo.errors import DuplicateKeyError


@dataclass
class _Result:
    matched_count: int


def _matches(doc: dict[str, Any], query: dict[str, Any]) -> bool:
    for field, want in query.items():
        have = doc.get(field)
        if isinstance(want, dict) and "$in" in want:
            if have not in want["$in"]:
                return False
        elif isinstance(want, dict) and "$lte" in want:
            if have is None or have > want["$lte"]:
                return False
        elif have != want:
            return False
    return True


class MemoryDatabase:
    def __init__(self) -> None:
        self._collections: dict[str, MemoryCollection] = {}

    def __getitem__(self, name: str) -> MemoryCollection:
        if name not in self._collections:
            self._collections[name] = MemoryCollection(self, name)
        return self._collections[name]


class MemoryCollection:
    def __init__(self, database: MemoryDatabase, name: str) -> None:
        self.database = database
        self.name = name
        self.docs: dict[str, dict[str, Any]] = {}

    async def insert_one(self, doc: dict[str, Any]) -> None:
        if doc["_id"] in self.docs:
            raise DuplicateKeyError(f"duplicate _id {doc['_id']}")
        self.docs[doc["_id"]] = copy.deepcopy(doc)

    async def find_one(self, query: dict[str, Any]) -> dict[str, Any] | None:
        found = [d for d in self.docs.values() if _matches(d, query)]
        return copy.deepcopy(found[0]) if found else None

    async def find_one_and_update(
        self, query: dict[str, Any], update: dict[str, Any]
    ) -> dict[str, Any] | None:
        before = await self.find_one(query)
        if before is not None:
            self.docs[before["_id"]].update(update["$set"])
        return before

    async def update_one(self, query: dict[str, Any], update: dict[str, Any]) -> _Result:
        before = await self.find_one_and_update(query, update)
        return _Result(int(before is not None))

    def put(self, doc: dict[str, Any]) -> None:
        self.docs[doc["_id"]] = copy.deepcopy(doc)

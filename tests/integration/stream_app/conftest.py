from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pymongo import MongoClient

from failstream.settings import Settings


@pytest.fixture
def db(settings: Settings) -> Iterator[Any]:
    """The test's own database on the real MongoDB-compatible server."""
    client: MongoClient[dict[str, Any]] = MongoClient(settings.mongo_uri.get_secret_value())
    yield client[settings.mongo_db]
    client.drop_database(settings.mongo_db)
    client.close()

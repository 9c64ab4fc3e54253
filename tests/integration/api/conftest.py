from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pymongo import MongoClient

from failstream.settings import Settings
from tests.integration.api.support import running_api


@pytest.fixture
def api_settings(settings: Settings) -> Settings:
    """The test's isolated settings, with the stats cache off so reads see every write at once."""
    return settings.model_copy(update={"api_stats_cache_s": 0.0})


@pytest.fixture
def db(api_settings: Settings) -> Iterator[Any]:
    """The test's own database on the real MongoDB-compatible server (dropped afterwards)."""
    client: MongoClient[dict[str, Any]] = MongoClient(api_settings.mongo_uri.get_secret_value())
    yield client[api_settings.mongo_db]
    client.drop_database(api_settings.mongo_db)
    client.close()


@pytest.fixture
def api_url(api_settings: Settings, db: Any) -> Iterator[str]:
    with running_api(api_settings) as url:
        yield url

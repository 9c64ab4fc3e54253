"""The API process rides out a MongoDB outage: 503 and a gauge meanwhile, answers again after."""

from __future__ import annotations

import httpx
import pytest

from failstream.settings import Settings
from tests.integration.api.support import read_headers
from tests.integration.services import ProcessGroup, wait_until
from tests.integration.throwaway import ThrowawayFerretDB

pytestmark = pytest.mark.integration


def _status(url: str, settings: Settings) -> int:
    try:
        return httpx.get(url, headers=read_headers(settings), timeout=10).status_code
    except httpx.HTTPError:
        return 0


def _mongodb_up(base: str) -> str:
    for line in httpx.get(f"{base}/metrics", timeout=10).text.splitlines():
        if line.startswith('failstream_dependency_up{dependency="mongodb"}'):
            return line.split()[-1]
    return "absent"


def test_api_answers_503_while_mongodb_is_away_and_serves_again_once_it_is_back(
    settings: Settings, processes: ProcessGroup, own_db: ThrowawayFerretDB
) -> None:
    settings = own_db.settings.model_copy(update={"api_mongo_timeout_ms": 1000})
    base = f"http://127.0.0.1:{settings.api_port}"
    summary = f"{base}/api/v1/stats/summary"
    api = processes.start("api", "api", settings)
    wait_until(lambda: _status(summary, settings) == 200, 60, "the API to serve the summary")
    wait_until(lambda: _mongodb_up(base) == "1.0", 30, "the gauge to show MongoDB up")

    own_db.stop()
    wait_until(lambda: _status(summary, settings) == 503, 30, "reads to answer 503")
    assert _status(f"{base}/readyz", settings) == 503
    wait_until(lambda: _mongodb_up(base) == "0.0", 30, "the gauge to show MongoDB down")

    own_db.start()
    wait_until(lambda: _status(summary, settings) == 200, 60, "reads to answer again")
    wait_until(lambda: _mongodb_up(base) == "1.0", 30, "the gauge to show MongoDB back")
    assert api.poll() is None, "the API exited"
    log = processes.log("api")
    assert log.count("mongodb is down") == 1, log[-2000:]
    assert log.count("mongodb is back") == 1, log[-2000:]

"""Spellings of one window share one cached computation."""

from __future__ import annotations

from typing import Any

import pytest

from failstream.settings import Settings
from tests.integration.api.support import failure, get, persist, running_api

pytestmark = pytest.mark.integration


def test_90d_and_2160h_share_one_computation(api_settings: Settings, db: Any) -> None:
    cached = api_settings.model_copy(update={"api_stats_cache_s": 600.0})
    from failstream.events import now_ms

    persist(cached, [failure(now_ms() - 60_000, "203.0.113.60", i) for i in range(3)])
    with running_api(cached) as url:
        answers = [
            get(url, "/api/v1/stats/summary", cached, window=w).json() for w in ("90d", "2160h", "129600m")
        ]
        other = get(url, "/api/v1/stats/summary", cached, window="89d").json()
    assert [a["window"] for a in answers] == ["90d"] * 3
    assert answers[0]["total"] == 3
    # one computation: the same instant and window end, not three reads
    assert len({(a["computed_at"], a["end"]) for a in answers}) == 1
    assert other["window"] == "89d" and other["start"] != answers[0]["start"]

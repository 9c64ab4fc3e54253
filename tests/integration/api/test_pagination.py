"""Cursor pages return every stored item exactly once, even while new ones are written."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from failstream.events import now_ms
from failstream.settings import Settings
from tests.integration.api.support import failure, get, persist

pytestmark = pytest.mark.integration


def test_paging_1000_failures_returns_each_once_while_new_failures_arrive(
    api_settings: Settings, api_url: str, db: Any
) -> None:
    base = now_ms() - 600_000
    # many share a timestamp: the id breaks the tie, so a page boundary inside a tie is exact
    stored = [failure(base + (i // 4) * 1000, f"192.0.2.{i % 50}", i) for i in range(1000)]
    persist(api_settings, stored)
    expected = {e.event_id for e in stored}

    stop = threading.Event()
    written: list[str] = []

    def keep_writing() -> None:
        offset = 10_000
        while not stop.is_set():
            batch = [failure(now_ms(), "192.0.2.200", i) for i in range(5)]
            persist(api_settings, batch, offset0=offset)
            written.extend(e.event_id for e in batch)
            offset += 5
            time.sleep(0.05)

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            params: dict[str, Any] = {"limit": 37}
            if cursor:
                params["cursor"] = cursor
            body = get(api_url, "/api/v1/failures", api_settings, **params).json()
            pages += 1
            seen.extend(item["id"] for item in body["items"])
            order = [(item["ts"], item["id"]) for item in body["items"]]
            assert order == sorted(order, reverse=True)
            cursor = body["next_cursor"]
            if cursor is None:
                break
    finally:
        stop.set()
        writer.join()

    assert written, "no failure arrived while paging"
    assert len(seen) == len(set(seen)), "an item was repeated"
    assert expected <= set(seen), f"{len(expected - set(seen))} items skipped"
    assert pages >= 1000 // 37


def test_filters_page_through_only_matching_failures(api_settings: Settings, api_url: str, db: Any) -> None:
    base = now_ms() - 60_000
    persist(api_settings, [failure(base + i, f"192.0.2.{i % 3}", i) for i in range(60)])
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"ip": "192.0.2.1", "reason": "invalid_token", "limit": 3}
        if cursor:
            params["cursor"] = cursor
        body = get(api_url, "/api/v1/failures", api_settings, **params).json()
        seen.extend(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    # i % 3 == 1 and i % 4 == 0 -> i = 4, 16, 28, 40, 52
    assert len(seen) == 5
    assert {(f["ip"], f["reason"]) for f in seen} == {("192.0.2.1", "invalid_token")}


def test_a_cursor_from_one_list_is_refused_by_another(api_settings: Settings, api_url: str, db: Any) -> None:
    persist(api_settings, [failure(now_ms() - i, "192.0.2.9", i) for i in range(3)])
    cursor = get(api_url, "/api/v1/failures", api_settings, limit=1).json()["next_cursor"]
    response = get(api_url, "/api/v1/alerts", api_settings, cursor=cursor)
    assert response.status_code == 422
    assert response.json()["detail"][0]["msg"].startswith("cursor")

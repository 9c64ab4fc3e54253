"""``/api/v1/ips/{subject}`` answers for a prefix subject as the prefix-failures rule names it."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from failstream.events import now_ms
from failstream.settings import Settings
from tests.integration.api.support import get

pytestmark = pytest.mark.integration

PREFIX = "2001:db8:1:2::/64"


def _prefix_alert(created_at: int) -> dict[str, Any]:
    key = f"prefix-failures:{PREFIX}:{created_at}"
    return {
        "_id": key,
        "alert_key": key,
        "rule": "prefix-failures",
        "subject": PREFIX,
        "state": "firing",
        "severity": "warning",
        "count": 10,
        "threshold": 10,
        "window_s": 600,
        "first_seen": created_at - 9_000,
        "last_seen": created_at,
        "reasons": {"invalid_token": 10},
        "routes": {"/login": 10},
        "status": "sent",
        "created_at": created_at,
        "updated_at": created_at,
    }


def test_a_prefix_subject_returns_its_alerts_and_its_newest_episode_through_the_dashboards_encoded_link(
    api_settings: Settings, api_url: str, db: Any
) -> None:
    older, newest = _prefix_alert(now_ms() - 3_600_000), _prefix_alert(now_ms())
    older.update(count=25, reasons={"missing_token": 25})
    db.alerts.insert_many([older, newest])
    response = get(api_url, f"/api/v1/ips/{quote(PREFIX, safe='')}", api_settings)  # encodeURIComponent
    assert response.status_code == 200, response.text
    detail = response.json()
    assert detail["ip"] == PREFIX
    assert [(a["rule"], a["subject"], a["count"]) for a in detail["alerts"]] == [
        ("prefix-failures", PREFIX, 10),
        ("prefix-failures", PREFIX, 25),
    ]
    # failures are kept per address: the figures are the newest alert's episode, and say so
    assert detail["scope"] == "prefix"
    assert (detail["total"], detail["first_seen"], detail["last_seen"]) == (
        10,
        newest["first_seen"],
        newest["last_seen"],
    )
    assert (detail["reasons"], detail["routes"], detail["statuses"]) == (
        {"invalid_token": 10},
        {"/login": 10},
        {},
    )
    assert detail["recent_failures"] == []


def test_an_unknown_prefix_is_404_and_one_with_host_bits_is_422_naming_ip(
    api_settings: Settings, api_url: str, db: Any
) -> None:
    response = get(api_url, "/api/v1/ips/2001%3Adb8%3A9%3A9%3A%3A%2F64", api_settings)
    assert response.status_code == 404 and "2001:db8:9:9::/64" in response.json()["detail"]
    response = get(api_url, "/api/v1/ips/2001:db8:1:2::1%2F64", api_settings)
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"][-1] == "ip" and "without host bits" in error["msg"]

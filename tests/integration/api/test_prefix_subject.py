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
        "reasons": {"invalid_token": 10},
        "status": "sent",
        "created_at": created_at,
        "updated_at": created_at,
    }


def test_a_prefix_subject_returns_its_alerts_through_the_dashboards_encoded_link(
    api_settings: Settings, api_url: str, db: Any
) -> None:
    db.alerts.insert_one(_prefix_alert(now_ms()))
    response = get(api_url, f"/api/v1/ips/{quote(PREFIX, safe='')}", api_settings)  # encodeURIComponent
    assert response.status_code == 200, response.text
    detail = response.json()
    assert detail["ip"] == PREFIX
    assert [(a["rule"], a["subject"], a["count"]) for a in detail["alerts"]] == [
        ("prefix-failures", PREFIX, 10)
    ]
    assert (detail["total"], detail["recent_failures"]) == (0, [])  # failures are kept per address


def test_an_unknown_prefix_is_404_and_one_with_host_bits_is_422_naming_ip(
    api_settings: Settings, api_url: str, db: Any
) -> None:
    response = get(api_url, "/api/v1/ips/2001%3Adb8%3A9%3A9%3A%3A%2F64", api_settings)
    assert response.status_code == 404 and "2001:db8:9:9::/64" in response.json()["detail"]
    response = get(api_url, "/api/v1/ips/2001:db8:1:2::1%2F64", api_settings)
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"][-1] == "ip" and "without host bits" in error["msg"]

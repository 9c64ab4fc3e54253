"""Alert and email lists as alerting writes them: filters, order, and today's email counts."""

from __future__ import annotations

from typing import Any

import pytest

from failstream.api.email_day import day_bounds
from failstream.events import now_ms
from failstream.settings import Settings
from tests.integration.api.support import get, running_api

pytestmark = pytest.mark.integration

DAY = 86_400_000


def _alert(i: int, status: str, created_at: int) -> dict[str, Any]:
    return {
        "_id": f"ip-failures:203.0.113.{i}:1",
        "alert_key": f"ip-failures:203.0.113.{i}:1",
        "rule": "ip-failures",
        "subject": f"203.0.113.{i}",
        "state": "firing",
        "severity": "warning",
        "count": 5,
        "threshold": 5,
        "window_s": 600,
        "reasons": {"invalid_token": 5},
        "services": {"billing\uff0ev2": 5},
        "status": status,
        "created_at": created_at,
        "updated_at": created_at,
    }


def _email(i: int, status: str, created_at: int, sent_at: int | None = None) -> dict[str, Any]:
    return {
        "_id": f"<{i}@failstream>",
        "kind": "alert",
        "status": status,
        "subject": f"alert {i}",
        "recipients": ["oncall@localhost"],
        "alert_keys": [],
        "attempts": 1,
        "last_error": "",
        "history": [{"status": "PENDING", "at": created_at, "attempt": 0, "error": ""}],
        "created_at": created_at,
        "updated_at": created_at,
        "sent_at": sent_at,
    }


def test_alerts_filter_by_status_and_page_newest_first(api_settings: Settings, api_url: str, db: Any) -> None:
    now = now_ms()
    db.alerts.insert_many([_alert(i, "sent" if i % 2 else "suppressed", now - i * 1000) for i in range(9)])
    sent: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"status": "sent", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        body = get(api_url, "/api/v1/alerts", api_settings, **params).json()
        sent.extend(body["items"])
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert [a["subject"] for a in sent] == ["203.0.113.1", "203.0.113.3", "203.0.113.5", "203.0.113.7"]
    assert sent[0]["services"] == {"billing.v2": 5}

    detail = get(api_url, "/api/v1/ips/203.0.113.3", api_settings)
    assert detail.status_code == 404  # alerts alone are not failures of this IP


def test_emails_list_and_todays_counts_in_the_report_timezone(settings: Settings, db: Any) -> None:
    tz = "Pacific/Kiritimati"  # UTC+14: its day differs from the UTC day most of the time
    tz_settings = settings.model_copy(update={"report_timezone": tz, "api_stats_cache_s": 0.0})
    now = now_ms()
    start, _ = day_bounds(now, __import__("zoneinfo").ZoneInfo(tz))
    db.emails.insert_many(
        [
            _email(1, "SENT", start + 1, sent_at=start + 2),
            _email(2, "FAILED", start + 3),
            _email(3, "PENDING", start + 4),
            _email(4, "SENT", start - 10, sent_at=start - 5),  # yesterday, local time
        ]
    )
    with running_api(tz_settings) as url:
        body = get(url, "/api/v1/emails", tz_settings).json()
        failed = get(url, "/api/v1/emails", tz_settings, status="FAILED").json()
    assert body["today"] == {"timezone": tz, "day_start": start, "created": 3, "sent": 1, "failed": 1}
    assert [e["id"] for e in body["items"]] == [
        "<3@failstream>",
        "<2@failstream>",
        "<1@failstream>",
        "<4@failstream>",
    ]
    assert [e["id"] for e in failed["items"]] == ["<2@failstream>"]

"""``GET /api/v1/reports/schedules`` on the real API app and FerretDB."""

from __future__ import annotations

import httpx
import pytest

from failstream.events import now_ms
from failstream.settings import Settings
from tests.integration.alerting.harness import Mongo
from tests.integration.alerting.test_reports import HOURLY
from tests.integration.api.support import running_api

pytestmark = pytest.mark.integration


def test_schedules_are_listed_with_next_due_time_and_last_report_for_read_keys_only(
    alerting_settings: Settings, mongo: Mongo
) -> None:
    settings = alerting_settings.model_copy(update={"report_schedules": (HOURLY,)})
    mongo.db.reports.insert_one(
        {
            "_id": "hourly:1000",
            "schedule": "hourly",
            "manual": False,
            "start": 1000,
            "end": 3_601_000,
            "status": "sent",
            "email_id": "<x@failstream>",
            "sent_at": 3_602_000,
            "late_by_s": 0,
        }
    )
    with running_api(settings) as url:
        anonymous = httpx.get(f"{url}/api/v1/reports/schedules", timeout=10)
        listed = httpx.get(
            f"{url}/api/v1/reports/schedules", headers={"X-API-Key": "dev-read-key"}, timeout=10
        )
    assert anonymous.status_code == 401
    assert listed.status_code == 200
    [hourly] = listed.json()
    assert hourly["name"] == "hourly" and hourly["cron"] == "0 * * * *" and hourly["tz"] == "UTC"
    assert hourly["recipients"] == ["oncall@example.com"]
    assert now_ms() < hourly["next_due"] <= now_ms() + 3_600_000
    assert hourly["next_due"] - hourly["next_period_start"] == 3_600_000
    assert hourly["last_report"]["key"] == "hourly:1000" and hourly["last_report"]["status"] == "sent"

"""``/reports/schedules``: the scheduled summary reports, when each is next due, and its last send.

Schedules come from the settings the API was started with (the alerting
process reads the same ``FAILSTREAM_REPORT_SCHEDULES``); the last report of
each is read from ``reports``, where the alerting process fences and records
every period.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from failstream.alerting.reports.schedule import next_due, period_ending
from failstream.api.auth import require_read
from failstream.api.routes.common import READ_ERRORS
from failstream.events import now_ms
from failstream.settings import ApiSettings

router = APIRouter(
    prefix="/api/v1", tags=["reports"], dependencies=[Depends(require_read)], responses=READ_ERRORS
)


class LastReportOut(BaseModel):
    key: str
    status: str
    start: int
    end: int
    email_id: str | None = None
    sent_at: int | None = None
    late_by_s: int = 0


class ReportScheduleOut(BaseModel):
    name: str
    period: Literal["hour", "day", "week"]
    cron: str | None
    at: str | None
    tz: str
    recipients: list[str]
    next_due: int  # ms, UTC: when the next report is sent
    next_period_start: int  # ms, UTC: the next report covers [next_period_start, next_due)
    last_report: LastReportOut | None


def _last(doc: dict[str, Any] | None) -> LastReportOut | None:
    if doc is None:
        return None
    return LastReportOut(
        key=str(doc["_id"]),
        status=str(doc.get("status", "")),
        start=int(doc.get("start", 0)),
        end=int(doc.get("end", 0)),
        email_id=doc.get("email_id"),
        sent_at=doc.get("sent_at"),
        late_by_s=int(doc.get("late_by_s") or 0),
    )


@router.get(
    "/reports/schedules",
    response_model=list[ReportScheduleOut],
    summary="Report schedules with their next due time and last scheduled report",
)
async def list_schedules(request: Request) -> list[ReportScheduleOut]:
    settings: ApiSettings = request.app.state.settings
    db = getattr(request.app.state, "db", None)
    now = now_ms()
    out = []
    for s in settings.report_schedules:
        due = next_due(s, now, settings.report_timezone)
        last = None
        if db is not None:
            last = await db.reports.find_one({"schedule": s.name, "manual": False}, sort=[("start", -1)])
        out.append(
            ReportScheduleOut(
                name=s.name,
                period=s.period,
                cron=s.cron or None,
                at=s.at or None,
                tz=s.tz or settings.report_timezone,
                recipients=list(s.recipients or settings.oncall_recipients),
                next_due=due,
                next_period_start=period_ending(s, due, settings.report_timezone).start,
                last_report=_last(last),
            )
        )
    return out

"""Response and request shapes of the REST API (what ``/openapi.json`` documents).

Every time is an integer of milliseconds since the epoch, UTC, as in MongoDB and
on the wire. Count maps (``by_reason``, ``reasons``...) map a label to a count.
The dashboard reads these shapes, so fields are only ever added, not renamed.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Counts = dict[str, int]

AlertStatus = Literal["claimed", "grouped", "sent", "suppressed", "failed"]
EmailStatus = Literal["PENDING", "RETRYING", "SENT", "FAILED"]
EmailKind = Literal["alert", "digest", "resolved", "report"]


class _Out(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TopIp(_Out):
    ip: str = Field(examples=["203.0.113.7"])
    count: int = Field(description="failures of this IP (see count_scope)", examples=[42])
    last_seen: int | None = Field(
        default=None, description="latest failure of this IP (ms)", examples=[1735689600000]
    )
    count_scope: Literal["window", "all_time"] = Field(
        default="window",
        description="window: count is exact for the window (the IP's first failure is inside it); "
        "all_time: the IP also failed before the window and count is its all-time total",
    )
    alert: Alert | None = Field(
        default=None, description="this IP's latest alert (any rule, newest created_at), or none ever"
    )


class StatsSummary(_Out):
    """Failures from ``start`` to ``end`` (whole minutes, from ``minute_counts``).

    ``top_ips``: the IPs with a failure inside the window, ranked by their count
    in ``ip_stats``. ``computed_at`` says how fresh the figures are (a short cache).
    """

    window: str = Field(examples=["1h"])
    start: int = Field(
        description="start of the first whole UTC minute of the window (ms)", examples=[1735686000000]
    )
    end: int = Field(description="end of the window (ms, exclusive)", examples=[1735689660000])
    total: int = Field(examples=[1234])
    by_reason: Counts = Field(examples=[{"invalid_token": 1000, "rate_limited": 234}])
    by_status: Counts = Field(examples=[{"401": 1000, "429": 234}])
    by_service: Counts = Field(examples=[{"demo": 1234}])
    top_ips: list[TopIp]
    computed_at: int = Field(description="when these figures were read from MongoDB (ms)")


class TimeseriesPoint(_Out):
    t: int = Field(description="bucket start (ms, aligned to the step in UTC)", examples=[1735686000000])
    total: int = Field(examples=[17])
    by_reason: Counts = Field(examples=[{"invalid_token": 17}])


class Timeseries(_Out):
    start: int
    end: int
    step_s: int = Field(examples=[60])
    points: list[TimeseriesPoint] = Field(description="one point per step, empty buckets included")


class Failure(_Out):
    """One failed request as stored (``id`` is the event id)."""

    id: str = Field(examples=["01JH3Z6Q1X5A4M2B3C4D5E6F7G"])
    ts: int = Field(examples=[1735689600123])
    service: str = Field(examples=["demo"])
    ip: str = Field(examples=["203.0.113.7"])
    method: str = Field(examples=["POST"])
    route: str = Field(examples=["/api/submit"])
    status: int = Field(examples=[401])
    reason: str = Field(examples=["invalid_token"])
    user_agent: str = ""
    request_id: str = ""


class Alert(_Out):
    """An alert as the alerting process recorded it."""

    alert_key: str
    rule: str = Field(examples=["ip-failures"])
    subject: str = Field(examples=["203.0.113.7"])
    state: str = Field(default="firing", examples=["firing"])
    severity: str = Field(default="warning", examples=["warning"])
    status: str = Field(examples=["sent"])
    suppressed_by: str | None = None
    count: int = 0
    threshold: int = 0
    window_s: int = 0
    first_seen: int | None = None
    last_seen: int | None = None
    reasons: Counts = Field(default_factory=dict)
    routes: Counts = Field(default_factory=dict)
    services: Counts = Field(default_factory=dict)
    email_id: str | None = None
    created_at: int
    updated_at: int | None = None
    sent_at: int | None = None
    last_error: str = ""


class EmailTransition(_Out):
    status: str
    at: int
    attempt: int = 0
    error: str = ""


class Email(_Out):
    """One email log record (``id`` is its Message-ID)."""

    id: str = Field(examples=["<5f0c...@failstream>"])
    kind: str = Field(examples=["alert"])
    status: str = Field(examples=["SENT"])
    subject: str = ""
    recipients: list[str] = Field(default_factory=list)
    alert_keys: list[str] = Field(default_factory=list)
    attempts: int = 0
    last_error: str = ""
    history: list[EmailTransition] = Field(default_factory=list)
    created_at: int
    updated_at: int | None = None
    sent_at: int | None = None


class EmailDay(_Out):
    """Today's email counts, "today" being the calendar day in ``timezone``."""

    timezone: str = Field(examples=["UTC"])
    day_start: int
    created: int = Field(description="emails created today")
    sent: int = Field(description="emails sent today")
    failed: int = Field(description="emails that are FAILED and last changed today")


_NEXT = Field(description="pass as ?cursor= for the next page; null on the last page", examples=[None])


class FailurePage(_Out):
    items: list[Failure]
    next_cursor: str | None = Field(
        description=(
            "pass as ?cursor= for the next page; null on the last page. A page read for longer than "
            "half a second ends early, with fewer items than limit (even none) and a cursor to go on"
        ),
        examples=[None],
    )


class AlertPage(_Out):
    items: list[Alert]
    next_cursor: str | None = _NEXT


class EmailPage(_Out):
    items: list[Email]
    next_cursor: str | None = _NEXT
    today: EmailDay


class IpDetail(_Out):
    ip: str = Field(examples=["203.0.113.7"])
    scope: Literal["address", "prefix"] = Field(
        default="address",
        description=(
            "address: total, first/last seen and the counts are the IP's, all time. prefix (a "
            "prefix-failures subject): failures are stored per address, so they are the newest "
            "alert's episode (statuses unknown) and recent_failures is empty"
        ),
    )
    total: int
    first_seen: int | None
    last_seen: int | None
    reasons: Counts
    statuses: Counts
    services: Counts
    routes: Counts
    recent_failures: list[Failure] = Field(description="the latest failures, newest first")
    alerts: list[Alert] = Field(description="the latest alerts about this IP, newest first")


class SilenceIn(BaseModel):
    """A silence: alerts matching ``subject`` and/or ``rule`` are not emailed until ``until``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"subject": "203.0.113.7", "rule": "ip-failures", "reason": "pentest", "duration_s": 3600}
            ]
        },
    )

    subject: str | None = Field(default=None, min_length=1, max_length=200)
    rule: str | None = Field(default=None, min_length=1, max_length=100)
    reason: str = Field(default="", max_length=1000)
    created_by: str = Field(default="", max_length=200, description="who asked for it (free text)")
    until: int | None = Field(
        default=None,
        description="end (ms); give this or duration_s; in the future, at most silence_max_days ahead",
        gt=0,
        lt=2**53,
    )
    duration_s: int | None = Field(
        default=None,
        description="length from now, in seconds, at most silence_max_days",
        gt=0,
        le=3650 * 86400,
    )


class Silence(_Out):
    id: str
    subject: str | None = None
    rule: str | None = None
    reason: str = ""
    created_by: str = ""
    created_by_key: str = Field(
        default="", description="id of the admin key that created it: the first 12 hex digits of its SHA-256"
    )
    created_at: int
    until: int
    active: bool = Field(description="until is still in the future")


class SilencePage(_Out):
    items: list[Silence]
    next_cursor: str | None = _NEXT


class Health(_Out):
    status: Literal["ok"] = "ok"


class Readiness(_Out):
    status: Literal["ready", "not_ready"]
    checks: dict[str, str] = Field(examples=[{"mongodb": "ok", "kafka": "ok"}])


class ErrorOut(_Out):
    detail: str = Field(examples=["invalid ip: 'not-an-ip' is not an IPv4 or IPv6 address"])

"""The wire contract: event schemas and ids every Failstream part emits and reads.

Shared, outside the capture library: the capture (``failstream.producer``),
the stream app, alerting and the API all import it, and none of the server
parts imports capture internals to agree on the bytes (a unit test, by
parsing the sources, keeps it so). Topic names are settings (``topic_*``).
It needs pydantic and orjson only, so ``pip install failstream`` carries it.
Every event carries ``v`` (its schema version) so a consumer can route an
unknown version to dead letters instead of guessing. Timestamps are integer
milliseconds since the Unix epoch, UTC, which sort and compare without
time-zone surprises.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from typing import Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1

#: Event times a consumer accepts: [2000-01-01, 2100-01-01) UTC in ms. Outside it a
#: clock is broken or the event forged; windows, buckets and sweeps would be
#: stretched across centuries, so such an event goes to dead letters instead.
TS_MIN_MS = 946_684_800_000
TS_MAX_MS = 4_102_444_800_000

# Longest field values an event may carry: past them a consumer dead-letters it,
# so the middleware cuts what it captures to them (see failed_request_json).
SERVICE_MAX = 200
IP_MAX = 64
METHOD_MAX = 16
ROUTE_MAX = 500
USER_AGENT_MAX = 500
REQUEST_ID_MAX = 200
#: a W3C Trace Context trace id: 32 lower-case hex digits
TRACE_ID_PATTERN = r"^[0-9a-f]{32}$"

FailureReason = Literal[
    "missing_token",
    "invalid_token",
    "expired_token",
    "forbidden",
    "rate_limited",
    "validation_error",
    "not_found",
    "server_error",
    "other",
    #: refused by the middleware's enforcement of a decision; stored and shown, never counted by detection
    "blocked",
]
FAILURE_REASONS: tuple[str, ...] = FailureReason.__args__  # type: ignore[attr-defined]

EmailStatus = Literal["queued", "sent", "failed", "bounced", "retrying"]
EMAIL_STATUSES: tuple[str, ...] = EmailStatus.__args__  # type: ignore[attr-defined]

AlertState = Literal["firing", "renotify", "resolved"]


class _Event(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    v: int = SCHEMA_VERSION
    event_id: str = Field(min_length=1, max_length=64)  # a UUID; dedupe keys and Mongo _ids stay small
    ts: int = Field(ge=0, description="event time, ms since the epoch, UTC")


class FailedRequest(_Event):
    """One failed client request, keyed by client IP on ``failed-requests``."""

    # bounded on the events that come from outside (hosts); the stream's own (Alert) carry its clock
    ts: int = Field(ge=TS_MIN_MS, lt=TS_MAX_MS, description="event time, ms since the epoch, UTC")

    service: str = Field(max_length=SERVICE_MAX)
    ip: str = Field(max_length=IP_MAX)
    method: str = Field(max_length=METHOD_MAX)
    route: str = Field(max_length=ROUTE_MAX)
    status: int = Field(ge=100, le=599)
    reason: FailureReason
    user_agent: str = Field(default="", max_length=USER_AGENT_MAX)
    request_id: str = Field(default="", max_length=REQUEST_ID_MAX)
    #: the W3C ``traceparent`` trace id the request carried; absent from events without one
    #: (and from every event of an older producer), so consumers must not require it
    trace_id: str | None = Field(default=None, pattern=TRACE_ID_PATTERN)


class EmailEvent(_Event):
    """One email delivery event, keyed by recipient domain on ``email-events``."""

    ts: int = Field(ge=TS_MIN_MS, lt=TS_MAX_MS, description="event time, ms since the epoch, UTC")

    service: str = Field(max_length=200)
    message_id: str = Field(max_length=500)
    recipient_domain: str = Field(max_length=255)
    status: EmailStatus
    attempt: int = Field(default=1, ge=0, le=1000)  # an int MongoDB can store, and then some
    error: str = Field(default="", max_length=2000)


class Alert(_Event):
    """A detection on ``alerts``, keyed by subject.

    ``alert_key`` is deterministic (rule, subject, episode start, and the
    notification within the episode), so re-processing the same events can
    never make a second, different alert: the alerting fence dedupes on it.
    """

    alert_key: str
    rule: str
    subject: str
    state: AlertState = "firing"
    severity: Literal["info", "warning", "critical"] = "warning"
    episode_start: int
    count: int
    threshold: int
    window_s: int
    first_seen: int
    last_seen: int
    reasons: dict[str, int] = Field(default_factory=dict)
    routes: dict[str, int] = Field(default_factory=dict)
    services: dict[str, int] = Field(default_factory=dict)
    #: failure share of the window, for ratio rules (``email-delivery``); None otherwise
    ratio: float | None = None


class LiveCounts(BaseModel):
    """Counts of one second, published on ``live-counts`` for the live feed."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    v: int = SCHEMA_VERSION
    ts: int
    failures: int = 0
    by_reason: dict[str, int] = Field(default_factory=dict)
    by_status: dict[str, int] = Field(default_factory=dict)
    by_service: dict[str, int] = Field(default_factory=dict)
    emails: dict[str, int] = Field(default_factory=dict)
    alerts: int = 0


class DeadLetter(BaseModel):
    """A message a consumer could not use, kept whole so it can be re-driven."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    v: int = SCHEMA_VERSION
    ts: int
    source_topic: str
    partition: int
    offset: int
    key_b64: str | None
    value_b64: str
    error: str


def now_ms() -> int:
    return time.time_ns() // 1_000_000


_id_lock = threading.Lock()
_last_id_ms = 0
_id_seq = 0


def new_event_id() -> str:
    """A UUIDv7-shaped id: unique, and ordered by creation time.

    Time-ordered ids keep MongoDB ``_id`` inserts append-only and give a
    stable tiebreak for cursor pagination. Within one millisecond a counter
    in the random bits keeps ids from one process ordered as well.
    """
    global _last_id_ms, _id_seq
    with _id_lock:
        ms = now_ms()
        if ms <= _last_id_ms:
            ms = _last_id_ms
            _id_seq += 1
        else:
            _last_id_ms = ms
            _id_seq = int.from_bytes(os.urandom(1), "big") & 0x3F
        seq = _id_seq & 0xFFF
    rand = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | seq << 64 | 0b10 << 62 | rand
    return str(uuid.UUID(int=value))


def dumps(event: BaseModel) -> bytes:
    return orjson.dumps(event.model_dump())


def failed_request_fields(
    *,
    event_id: str,
    ts: int,
    service: str,
    ip: str,
    method: str,
    route: str,
    status: int,
    reason: str,
    user_agent: str,
    request_id: str,
    trace_id: str | None = None,
) -> dict[str, object]:
    """A FailedRequest as the dict it is serialised from (what ``before_send`` sees), without a model.

    This is the capture's hot path, so it skips validation; instead every
    field is cut or clamped into what :class:`FailedRequest` accepts, so a
    client's absurd method or user agent (or a host clock gone wrong) still
    makes an event the stream counts rather than a dead letter. ``trace_id``
    is left out when there is none: events without it stay as they were.
    """
    fields: dict[str, object] = {
        "v": SCHEMA_VERSION,
        "event_id": event_id,
        "ts": ts if TS_MIN_MS <= ts < TS_MAX_MS else min(max(ts, TS_MIN_MS), TS_MAX_MS - 1),
        "service": service[:SERVICE_MAX],
        "ip": ip[:IP_MAX],
        "method": method[:METHOD_MAX],
        "route": route[:ROUTE_MAX],
        "status": status if 100 <= status <= 599 else 599,
        "reason": reason,
        "user_agent": user_agent[:USER_AGENT_MAX],
        "request_id": request_id[:REQUEST_ID_MAX],
    }
    if trace_id is not None:
        fields["trace_id"] = trace_id
    return fields


def failed_request_json(
    *,
    event_id: str,
    ts: int,
    service: str,
    ip: str,
    method: str,
    route: str,
    status: int,
    reason: str,
    user_agent: str,
    request_id: str,
    trace_id: str | None = None,
) -> bytes:
    """Serialise a FailedRequest without building a model (see :func:`failed_request_fields`)."""
    return orjson.dumps(
        failed_request_fields(
            event_id=event_id,
            ts=ts,
            service=service,
            ip=ip,
            method=method,
            route=route,
            status=status,
            reason=reason,
            user_agent=user_agent,
            request_id=request_id,
            trace_id=trace_id,
        )
    )

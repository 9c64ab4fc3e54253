"""Stored MongoDB documents -> response models, tolerant of missing fields.

Documents are written by other processes (and older versions of them); one odd
document must not turn a whole page into a 500, so every field has a fallback.
"""

from __future__ import annotations

from typing import Any

from failstream.api.labels import decode_counts
from failstream.api.models import Alert, Email, EmailTransition, Failure, Silence


def _int(value: Any, default: int = 0) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int | float):
        return int(value)
    return default


def _opt_int(value: Any) -> int | None:
    return (
        None if value is None or isinstance(value, bool) or not isinstance(value, int | float) else int(value)
    )


def _str(value: Any, default: str = "") -> str:
    return default if value is None else str(value)


def failure(doc: dict[str, Any]) -> Failure:
    return Failure(
        id=_str(doc.get("_id")),
        ts=_int(doc.get("ts")),
        service=_str(doc.get("service")),
        ip=_str(doc.get("ip")),
        method=_str(doc.get("method")),
        route=_str(doc.get("route")),
        status=_int(doc.get("status")),
        reason=_str(doc.get("reason"), "other"),
        user_agent=_str(doc.get("user_agent")),
        request_id=_str(doc.get("request_id")),
    )


def alert(doc: dict[str, Any]) -> Alert:
    return Alert(
        alert_key=_str(doc.get("alert_key") or doc.get("_id")),
        rule=_str(doc.get("rule")),
        subject=_str(doc.get("subject")),
        state=_str(doc.get("state"), "firing"),
        severity=_str(doc.get("severity"), "warning"),
        status=_str(doc.get("status")),
        suppressed_by=None if doc.get("suppressed_by") is None else _str(doc.get("suppressed_by")),
        count=_int(doc.get("count")),
        threshold=_int(doc.get("threshold")),
        window_s=_int(doc.get("window_s")),
        first_seen=_opt_int(doc.get("first_seen")),
        last_seen=_opt_int(doc.get("last_seen")),
        reasons=decode_counts(doc.get("reasons")),
        routes=decode_counts(doc.get("routes")),
        services=decode_counts(doc.get("services")),
        email_id=None if doc.get("email_id") is None else _str(doc.get("email_id")),
        created_at=_int(doc.get("created_at")),
        updated_at=_opt_int(doc.get("updated_at")),
        sent_at=_opt_int(doc.get("sent_at")),
        last_error=_str(doc.get("last_error")),
    )


def email(doc: dict[str, Any]) -> Email:
    history = [
        EmailTransition(
            status=_str(h.get("status")),
            at=_int(h.get("at")),
            attempt=_int(h.get("attempt")),
            error=_str(h.get("error")),
        )
        for h in doc.get("history") or []
        if isinstance(h, dict)
    ]
    return Email(
        id=_str(doc.get("_id")),
        kind=_str(doc.get("kind")),
        status=_str(doc.get("status")),
        subject=_str(doc.get("subject")),
        recipients=[str(r) for r in doc.get("recipients") or []],
        alert_keys=[str(k) for k in doc.get("alert_keys") or []],
        attempts=_int(doc.get("attempts")),
        last_error=_str(doc.get("last_error")),
        history=history,
        created_at=_int(doc.get("created_at")),
        updated_at=_opt_int(doc.get("updated_at")),
        sent_at=_opt_int(doc.get("sent_at")),
    )


def silence(doc: dict[str, Any], now: int) -> Silence:
    until = _int(doc.get("until"))
    return Silence(
        id=_str(doc.get("_id")),
        subject=doc.get("subject") or None,
        rule=doc.get("rule") or None,
        reason=_str(doc.get("reason")),
        created_by=_str(doc.get("created_by")),
        created_by_key=_str(doc.get("created_by_key")),
        created_at=_int(doc.get("created_at")),
        until=until,
        active=until > now,
    )

"""Turning a rule's notification into the wire contract's Alert."""

from __future__ import annotations

from failstream.events import Alert, new_event_id, now_ms
from failstream.stream_app.detection.notification import Notification


def to_alert(notification: Notification) -> Alert:
    n = notification
    return Alert(
        event_id=new_event_id(),
        ts=now_ms(),
        alert_key=n.alert_key,
        rule=n.rule,
        subject=n.subject,
        state=n.state,
        severity="info" if n.state == "resolved" else "warning",
        episode_start=n.episode_start,
        count=n.count,
        threshold=n.threshold,
        window_s=n.window_s,
        first_seen=n.first_seen,
        last_seen=n.last_seen,
        reasons=n.reasons,
        routes=n.routes,
        services=n.services,
        ratio=n.ratio,
    )

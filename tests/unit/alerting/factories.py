"""Alerts for unit tests."""

from __future__ import annotations

from typing import Any

from failstream.events import Alert

T0 = 1_700_000_000_000


def alert(subject: str = "10.0.0.1", **fields: Any) -> Alert:
    values: dict[str, Any] = {
        "event_id": f"e-{subject}",
        "ts": T0,
        "alert_key": f"ip-failures:{subject}:{T0}",
        "rule": "ip-failures",
        "subject": subject,
        "episode_start": T0 - 60_000,
        "count": 6,
        "threshold": 5,
        "window_s": 600,
        "first_seen": T0 - 120_000,
        "last_seen": T0,
        "reasons": {"invalid_token": 6},
        "routes": {"/api/submit": 6},
    }
    values.update(fields)
    return Alert(**values)

"""What a rule decides: one notification of an episode, before it becomes an Alert."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

NotificationState = Literal["firing", "renotify", "resolved"]


@dataclass(frozen=True)
class Notification:
    """One firing, re-notification or resolution of a rule for a subject.

    ``alert_key`` is a pure function of (rule, subject, episode start, which
    notification of the episode), so processing the same events again yields
    the same key and the alerting fence drops the copy.
    """

    rule: str
    subject: str
    state: NotificationState
    alert_key: str
    episode_start: int
    count: int
    threshold: int
    window_s: int
    first_seen: int
    last_seen: int
    reasons: dict[str, int] = field(default_factory=dict)
    routes: dict[str, int] = field(default_factory=dict)
    services: dict[str, int] = field(default_factory=dict)
    ratio: float | None = None


def alert_key(rule: str, subject: str, episode_start: int, state: NotificationState, seq: int) -> str:
    """``rule:subject:start`` for the firing; distinct suffixes for the later ones."""
    base = f"{rule}:{subject}:{episode_start}"
    if state == "firing":
        return base
    if state == "renotify":
        return f"{base}:renotify-{seq}"
    return f"{base}:resolved"

"""Rule ``ip-failures``: N failures of one IP within any W-second span."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stream_app.detection.sliding_window import SlidingWindowCounter

RULE = "ip-failures"


@dataclass
class IpState:
    """Per-IP detection state, JSON-friendly so it can live in a Faust table."""

    timestamps: list[int] = field(default_factory=list)
    episode_start: int | None = None
    count: int = 0
    first_seen: int = 0
    last_seen: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    routes: dict[str, int] = field(default_factory=dict)
    seen_ids: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> IpState:
        return cls(**data) if data else cls()


@dataclass(frozen=True)
class Firing:
    alert_key: str
    subject: str
    episode_start: int
    count: int


def observe(
    state: IpState,
    *,
    ip: str,
    event_id: str,
    ts: int,
    reason: str,
    route: str,
    threshold: int,
    window_ms: int,
) -> Firing | None:
    """Apply one failure to ``state``; return a Firing when an episode starts.

    A re-delivered event (same ``event_id`` still in state) changes nothing,
    and the alert key is (rule, subject, episode start), so processing the
    same events twice can never produce a second, different alert.
    """
    if event_id in state.seen_ids:
        return None
    state.seen_ids = [*state.seen_ids[-(threshold * 4) :], event_id]
    if state.episode_start is not None and ts - state.last_seen >= window_ms:
        state.episode_start = None  # quiet for a whole window: the episode resolved
    counter = SlidingWindowCounter(threshold, window_ms, state.timestamps)
    fired = counter.add(ts)
    state.timestamps = counter.timestamps
    state.count += 1
    state.first_seen = min(state.first_seen or ts, ts)
    state.last_seen = max(state.last_seen, ts)
    state.reasons[reason] = state.reasons.get(reason, 0) + 1
    state.routes[route] = state.routes.get(route, 0) + 1
    if fired and state.episode_start is None:
        start = counter.timestamps[-threshold]
        state.episode_start = start
        return Firing(f"{RULE}:{ip}:{start}", ip, start, counter.count_in_window(ts))
    return None

"""An episode: from a rule's firing until the subject has been quiet for a window."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Distinct routes / services kept per episode; the rest are summed as "(other)".
MAX_LABELS = 20
OTHER = "(other)"


def bump(counter: dict[str, int], label: str, n: int = 1, limit: int = MAX_LABELS) -> None:
    """Count ``label``, folding new labels into ``(other)`` once ``limit`` is reached."""
    if label in counter:
        counter[label] += n
        return
    if len(counter) >= limit:
        label = OTHER
    counter[label] = counter.get(label, 0) + n


@dataclass
class Episode:
    """Counts of one episode; ``notified`` is the event time of its last notification."""

    start: int
    first: int
    last: int
    notified: int
    count: int = 0
    seq: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    routes: dict[str, int] = field(default_factory=dict)
    services: dict[str, int] = field(default_factory=dict)

    def add(self, ts: int, reason: str, route: str, service: str) -> None:
        # spelled out, not looped: this runs for every event of every open episode
        self.count += 1
        if ts < self.first:
            self.first = ts
        if ts > self.last:
            self.last = ts
        if reason:  # unlabelled rules (per route) keep counts only
            bump(self.reasons, reason)
        if route:
            bump(self.routes, route)
        if service:
            bump(self.services, service)

    def quiet_at(self, ts: int, window_ms: int) -> bool:
        """Has the subject been quiet for a whole window when an event at ``ts`` comes?"""
        return ts - self.last >= window_ms

    def renotify_due(self, ts: int, repeat_ms: int) -> bool:
        return ts - self.notified >= repeat_ms

    def to_json(self) -> list[Any]:
        return [
            self.start,
            self.first,
            self.last,
            self.notified,
            self.count,
            self.seq,
            self.reasons,
            self.routes,
            self.services,
        ]

    @classmethod
    def from_json(cls, data: list[Any]) -> Episode:
        start, first, last, notified, count, seq, reasons, routes, services = data
        return cls(start, first, last, notified, count, seq, reasons, routes, services)

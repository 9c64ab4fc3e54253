"""Exact sliding-window counting with bounded state."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field


@dataclass
class SlidingWindowCounter:
    """Does a key have ``threshold`` events within any ``window_ms`` span?

    Only the newest ``threshold`` timestamps matter for that question once
    events arrive in order (any qualifying span ends at the newest event), so
    state is at most ``threshold`` integers per key. Out-of-order events are
    inserted in their place, so a late event counts in its own window.
    """

    threshold: int
    window_ms: int
    timestamps: list[int] = field(default_factory=list)

    def add(self, ts: int) -> bool:
        """Record one event; True if some window now holds ``threshold`` events."""
        bisect.insort(self.timestamps, ts)
        if len(self.timestamps) > self.threshold:
            del self.timestamps[0 : len(self.timestamps) - self.threshold]
        return self.fires()

    def fires(self) -> bool:
        ts = self.timestamps
        n = self.threshold
        return len(ts) >= n and ts[-1] - ts[-n] < self.window_ms

    def count_in_window(self, now: int) -> int:
        """Events kept whose time lies within the window ending at ``now``."""
        return sum(1 for t in self.timestamps if now - t < self.window_ms)

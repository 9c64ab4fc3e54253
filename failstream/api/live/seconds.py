"""Whole seconds of live counts, summed from every stream worker's share.

Each stream worker publishes, once a second, what it processed since its last
tick, labelled with the second (``ts``, ms) of the tick. Several workers
publish for the same second at different moments within it, so a second is
only complete some time after it ends: ``SecondsAggregator`` sums records by
``ts`` and releases a second once ``delay_ms`` past its end. Seconds are
released contiguously, one per second even when no record came (``records``
is then 0: no worker reported), because the feed promises a push every
second and clients resume by ``ts``.

A record that arrives after its second was released is folded into the next
second (totals stay right; the spike is a little late) unless it is older
than ``fold_limit_ms``: such records are stale replays (a consumer re-reading
history) and are dropped rather than shown as a burst.

No clock and no I/O here: the caller passes ``now_ms``, so tests need neither.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import orjson

from failstream.events import LiveCounts

SECOND_MS = 1000


@dataclass
class LiveSecond:
    """One second of counts, all workers summed. ``ts`` is also its resume id."""

    ts: int
    failures: int = 0
    by_reason: Counter[str] = field(default_factory=Counter)
    by_status: Counter[str] = field(default_factory=Counter)
    by_service: Counter[str] = field(default_factory=Counter)
    emails: Counter[str] = field(default_factory=Counter)
    alerts: int = 0
    records: int = 0  # worker records summed here; 0 = no stream worker reported

    def add(self, counts: LiveCounts) -> None:
        self.failures += counts.failures
        self.by_reason.update(counts.by_reason)
        self.by_status.update(counts.by_status)
        self.by_service.update(counts.by_service)
        self.emails.update(counts.emails)
        self.alerts += counts.alerts
        self.records += 1

    def to_json(self) -> str:
        """The message every client receives for this second (encoded once, sent to all)."""
        return orjson.dumps(
            {
                "ts": self.ts,
                "failures": self.failures,
                "by_reason": dict(self.by_reason),
                "by_status": dict(self.by_status),
                "by_service": dict(self.by_service),
                "emails": dict(self.emails),
                "alerts": self.alerts,
                "records": self.records,
            }
        ).decode()


def second_of(ts_ms: int) -> int:
    return ts_ms - ts_ms % SECOND_MS


class SecondsAggregator:
    """Sums per-worker records by second and releases each second once it is due."""

    def __init__(self, start_ms: int, *, delay_ms: int, keep_ms: int, fold_limit_ms: int = 10_000) -> None:
        self.next_ts = second_of(start_ms)
        self.delay_ms = delay_ms
        self.keep_ms = keep_ms  # never release more history than this (e.g. after a stalled loop)
        self.fold_limit_ms = fold_limit_ms
        self.folded = 0
        self.dropped = 0
        self._pending: dict[int, LiveSecond] = {}

    def add(self, counts: LiveCounts) -> None:
        ts = second_of(counts.ts)
        if ts < self.next_ts:
            if self.next_ts - ts > self.fold_limit_ms:
                self.dropped += 1
                return
            self.folded += 1
            ts = self.next_ts
        self._pending.setdefault(ts, LiveSecond(ts)).add(counts)

    def due_at(self) -> int:
        """When (ms) the next second is released."""
        return self.next_ts + SECOND_MS + self.delay_ms

    def release(self, now_ms: int) -> list[LiveSecond]:
        """Every second that is due at ``now_ms``, oldest first, gaps filled with empty seconds."""
        oldest = second_of(now_ms - self.delay_ms - self.keep_ms)
        if self.next_ts < oldest:  # asleep for longer than anyone could replay: skip ahead
            for ts in [t for t in self._pending if t < oldest]:
                del self._pending[ts]
            self.next_ts = oldest
        out: list[LiveSecond] = []
        while self.due_at() <= now_ms:
            second = self._pending.pop(self.next_ts, None)
            out.append(second if second is not None else LiveSecond(self.next_ts))
            self.next_ts += SECOND_MS
        return out

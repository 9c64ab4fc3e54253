"""Per-second counts for the live feed, accumulated between timer ticks."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from failstream.events import EmailEvent, FailedRequest, LiveCounts


class LiveCountsAccumulator:
    """Counts what this worker processed since the last tick.

    Several workers each publish their share for the same second; readers
    sum the records that carry the same ``ts``.
    """

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self.failures = 0
        self.by_reason: Counter[str] = Counter()
        self.by_status: Counter[str] = Counter()
        self.by_service: Counter[str] = Counter()
        self.emails: Counter[str] = Counter()
        self.alerts = 0

    def add_failures(self, events: Sequence[FailedRequest]) -> None:
        """A batch at once: Counter.update counts an iterable in C."""
        self.failures += len(events)
        self.by_reason.update(e.reason for e in events)
        self.by_status.update(str(e.status) for e in events)
        self.by_service.update(e.service for e in events)

    def add_email(self, event: EmailEvent) -> None:
        self.emails[event.status] += 1

    def add_alerts(self, n: int) -> None:
        self.alerts += n

    def flush(self, second_ms: int) -> LiveCounts:
        counts = LiveCounts(
            ts=second_ms,
            failures=self.failures,
            by_reason=dict(self.by_reason),
            by_status=dict(self.by_status),
            by_service=dict(self.by_service),
            emails=dict(self.emails),
            alerts=self.alerts,
        )
        self._reset()
        return counts

"""Which Kafka offsets may be committed: only those whose alert is fully handled.

Alerts wait in digest groups, so records finish out of order; committing the
highest offset seen would lose a waiting alert on a crash. The committable
offset of a partition is one past the longest run of finished records from
the oldest one still tracked.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable


class OffsetTracker:
    """Per-partition record of in-flight and finished offsets."""

    def __init__(self) -> None:
        self._open: dict[Hashable, dict[int, bool]] = {}

    def track(self, partition: Hashable, offset: int) -> None:
        self._open.setdefault(partition, {})[offset] = False

    def finish(self, partition: Hashable, offset: int) -> None:
        offsets = self._open.get(partition)
        if offsets is not None and offset in offsets:
            offsets[offset] = True

    def committable(self) -> dict[Hashable, int]:
        """Next offset to commit per partition that advanced; forgets what it returns."""
        ready: dict[Hashable, int] = {}
        for partition, offsets in self._open.items():
            finished_up_to: int | None = None
            for offset in sorted(offsets):
                if not offsets[offset]:
                    break
                finished_up_to = offset
            if finished_up_to is not None:
                ready[partition] = finished_up_to + 1
                for offset in [o for o in offsets if o <= finished_up_to]:
                    del offsets[offset]
        return ready

    def restore(self, offsets: dict[Hashable, int]) -> None:
        """Take back offsets ``committable`` gave out whose commit failed, so the next round repeats it."""
        for partition, next_offset in offsets.items():
            self._open.setdefault(partition, {})[next_offset - 1] = True

    def forget(self, partitions: Iterable[Hashable]) -> None:
        """Drop revoked partitions: their new owner re-reads from the last commit."""
        for partition in partitions:
            self._open.pop(partition, None)

    def pending(self) -> int:
        return sum(1 for offsets in self._open.values() for done in offsets.values() if not done)

from __future__ import annotations

from failstream.alerting.offsets import OffsetTracker


def test_offset_is_committable_only_once_every_earlier_record_is_handled() -> None:
    tracker = OffsetTracker()
    for offset in (10, 11, 12):
        tracker.track("p0", offset)
    tracker.finish("p0", 11)
    tracker.finish("p0", 12)
    assert tracker.committable() == {}  # 10 still waits in a digest group
    tracker.finish("p0", 10)
    assert tracker.committable() == {"p0": 13}
    assert tracker.committable() == {}
    assert tracker.pending() == 0


def test_partitions_advance_independently() -> None:
    tracker = OffsetTracker()
    tracker.track("p0", 1)
    tracker.track("p1", 7)
    tracker.track("p1", 8)
    tracker.finish("p1", 7)
    assert tracker.committable() == {"p1": 8}
    assert tracker.pending() == 2


def test_revoked_partition_is_forgotten_and_late_finishes_ignored() -> None:
    tracker = OffsetTracker()
    tracker.track("p0", 1)
    tracker.forget(["p0"])
    tracker.finish("p0", 1)
    assert tracker.committable() == {}

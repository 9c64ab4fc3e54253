from __future__ import annotations

import uuid

from failstream.producer.ids import next_event_id


def test_ids_are_uuid7_shaped_unique_and_time_ordered() -> None:
    ids = [next_event_id() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    parsed = uuid.UUID(ids[0])
    assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
    assert str(parsed) == ids[0]


def test_the_id_carries_its_creation_millisecond() -> None:
    import time

    before = time.time_ns() // 1_000_000
    ms = uuid.UUID(next_event_id()).int >> 80
    assert before <= ms <= time.time_ns() // 1_000_000


def test_more_than_4096_ids_in_one_millisecond_stay_unique_and_ordered() -> None:
    ms = 1_900_000_000_000  # ahead of the clock, so every call lands in the same millisecond
    ids = [next_event_id(ms) for _ in range(10_000)]
    assert len(set(ids)) == len(ids) and ids == sorted(ids)
    stamped = [uuid.UUID(i).int >> 80 for i in ids]
    assert stamped[0] == ms and stamped[4095] == ms and stamped[4096] == ms + 1  # borrowed, never reused

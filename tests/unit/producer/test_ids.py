from __future__ import annotations

import uuid

from producer.ids import next_event_id


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

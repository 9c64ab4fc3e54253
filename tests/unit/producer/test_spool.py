from __future__ import annotations

from pathlib import Path

from producer.spool import DiskSpool, decode_all, encode


def _records(n: int, start: int = 0) -> list[tuple[str, bytes | None, bytes]]:
    return [
        ("topic-a" if i % 2 else "topic-b", None if i % 3 == 0 else b"k%d" % i, b"v%d" % i)
        for i in range(start, start + n)
    ]


def test_records_round_trip_with_and_without_keys() -> None:
    records = _records(7)
    data = b"".join(encode(r) for r in records)
    assert decode_all(data) == (records, 0)


def test_a_torn_last_record_is_ignored_not_replayed_as_garbage() -> None:
    records = _records(3)
    data = b"".join(encode(r) for r in records)
    decoded, torn = decode_all(data[:-2])
    assert decoded == records[:2]
    assert torn > 0


def test_a_corrupted_record_stops_the_read(tmp_path: Path) -> None:
    records = _records(3)
    blob = bytearray(b"".join(encode(r) for r in records))
    blob[len(encode(records[0])) + 12] ^= 0xFF  # flip a byte inside the second payload
    decoded, _ = decode_all(bytes(blob))
    assert decoded == records[:1]


def test_segments_replay_oldest_first_in_append_order(tmp_path: Path) -> None:
    spool = DiskSpool(tmp_path, max_bytes=1_000_000, segment_bytes=200)
    spool.open()
    records = _records(30)
    for r in records:
        spool.append([r])
    assert spool.events == 30
    replayed = []
    while (oldest := spool.oldest()) is not None:
        path, batch = oldest
        replayed.extend(batch)
        spool.remove(path)
    assert replayed == records
    assert spool.events == 0 and spool.size_bytes == 0 and not spool
    spool.close()


def test_over_budget_the_oldest_segments_are_dropped_and_counted(tmp_path: Path) -> None:
    spool = DiskSpool(tmp_path, max_bytes=2000, segment_bytes=500)
    spool.open()
    dropped = sum(spool.append([r]) for r in _records(200))
    assert dropped > 0
    assert spool.size_bytes <= 2000
    assert spool.events + dropped == 200
    remaining = []
    while (oldest := spool.oldest()) is not None:
        remaining.extend(oldest[1])
        spool.remove(oldest[0])
    assert remaining == _records(200)[dropped:]  # the newest survive, in order
    spool.close()


def test_a_restarted_process_finds_what_the_last_one_left(tmp_path: Path) -> None:
    first = DiskSpool(tmp_path, max_bytes=1_000_000)
    first.open()
    first.append(_records(5))
    first.close()
    second = DiskSpool(tmp_path, max_bytes=1_000_000)
    second.open()
    assert second.events == 5
    assert second.oldest()[1] == _records(5)  # type: ignore[index]
    second.close()


def test_two_live_spools_on_one_directory_use_separate_slots(tmp_path: Path) -> None:
    a, b = DiskSpool(tmp_path, 1_000_000), DiskSpool(tmp_path, 1_000_000)
    a.open()
    b.open()
    assert a.dir != b.dir
    a.append(_records(2))
    assert b.events == 0
    a.close()
    b.close()


def test_segments_of_a_dead_process_are_adopted_by_the_next_one(tmp_path: Path) -> None:
    live, dead = DiskSpool(tmp_path, 1_000_000), DiskSpool(tmp_path, 1_000_000)
    live.open()
    dead.open()  # slot-1
    dead.append(_records(4))
    dead.close()  # its lock is gone, its segments stay in slot-1
    live.close()
    newcomer = DiskSpool(tmp_path, 1_000_000)
    newcomer.open()  # takes slot-0 and adopts slot-1's segments
    assert newcomer.events == 4
    newcomer.close()

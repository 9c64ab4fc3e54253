from __future__ import annotations

import errno
import logging
from pathlib import Path
from typing import IO

import pytest

from failstream.producer.spool import DiskSpool, SpoolWriteError, decode_all, encode


def _records(n: int, start: int = 0) -> list[tuple[str, bytes | None, bytes]]:
    return [
        ("topic-a" if i % 2 else "topic-b", None if i % 3 == 0 else b"k%d" % i, b"v%d" % i)
        for i in range(start, start + n)
    ]


def test_records_round_trip_with_and_without_keys() -> None:
    records = _records(7)
    data = b"".join(encode(r) for r in records)
    assert decode_all(data) == (records, 0, 0, 0)


def test_a_torn_last_record_is_ignored_not_replayed_as_garbage() -> None:
    records = _records(3)
    data = b"".join(encode(r) for r in records)
    decoded = decode_all(data[:-2])
    assert decoded.records == records[:2]
    assert decoded.torn > 0 and decoded.corrupt == 0


@pytest.mark.parametrize("where", [0, 3, 12], ids=["length", "crc", "payload"])
def test_a_corrupted_record_is_skipped_and_counted_and_the_records_after_it_are_read(where: int) -> None:
    records = _records(5)
    blob = bytearray(b"".join(encode(r) for r in records))
    blob[len(encode(records[0])) + where] ^= 0xFF  # damage the second record
    decoded = decode_all(bytes(blob))
    assert decoded.records == [records[0], *records[2:]]
    assert (decoded.corrupt, decoded.corrupt_bytes, decoded.torn) == (1, len(encode(records[1])), 0)


def test_garbage_between_records_costs_only_itself() -> None:
    records = _records(4)
    first, rest = encode(records[0]), b"".join(encode(r) for r in records[1:])
    decoded = decode_all(first + b"\x00\x00\x00\x07garbage\xff" * 50 + rest)
    assert decoded.records == records and decoded.corrupt == 1


def test_a_damaged_segment_on_disk_is_counted_once_and_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = DiskSpool(tmp_path, max_bytes=1_000_000)
    first.open()
    first.append(_records(6))
    first.close()
    [segment] = (tmp_path / "slot-0").glob("*.seg")
    blob = bytearray(segment.read_bytes())
    blob[len(encode(_records(1)[0])) + 12] ^= 0xFF
    segment.write_bytes(bytes(blob))

    spool = DiskSpool(tmp_path, max_bytes=1_000_000)
    with caplog.at_level(logging.ERROR, logger="failstream.producer"):
        spool.open()
        _, found = spool.oldest()  # type: ignore[misc]
    assert found == [_records(6)[0], *_records(6)[2:]]
    assert spool.corrupt == 1 and spool.events == 5
    assert sum("damaged" in r.getMessage() for r in caplog.records) == 1
    spool.close()


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


def _drain(spool: DiskSpool) -> list[tuple[str, bytes | None, bytes]]:
    out = []
    while (oldest := spool.oldest()) is not None:
        out.extend(oldest[1])
        spool.remove(oldest[0])
    return out


def test_a_partly_failed_replay_keeps_the_failed_events_ahead_of_newer_ones(tmp_path: Path) -> None:
    spool = DiskSpool(tmp_path, max_bytes=1_000_000, segment_bytes=300)
    spool.open()
    records = _records(40)
    spool.append(records[:20])
    path, batch = spool.oldest()  # type: ignore[misc]
    failed = batch[1::2]  # Kafka took every other one
    spool.append(records[20:])  # newer events arrive meanwhile
    spool.requeue(path, failed)
    expected = [r for r in records[:20] if r not in batch or r in failed] + records[20:]
    assert spool.events == len(expected)
    spool.close()
    again = DiskSpool(tmp_path, max_bytes=1_000_000)  # the order also holds for the next process
    again.open()
    assert _drain(again) == expected
    again.close()


def test_a_crash_while_requeueing_loses_nothing_and_keeps_the_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = DiskSpool(tmp_path, max_bytes=1_000_000, segment_bytes=300)
    spool.open()
    records = _records(30)
    spool.append(records)
    path, batch = spool.oldest()  # type: ignore[misc]

    def crash(self: Path, missing_ok: bool = False) -> None:
        raise SystemExit("killed between writing the replacement and removing the old segment")

    monkeypatch.setattr(Path, "unlink", crash)
    with pytest.raises(SystemExit):
        spool.requeue(path, batch[2:])
    monkeypatch.undo()
    spool.close()
    after = DiskSpool(tmp_path, max_bytes=1_000_000)
    after.open()
    found = _drain(after)
    # the old segment, then its replacement, then the rest: duplicates (dropped by event id), no loss
    assert found == batch + batch[2:] + records[len(batch) :]
    after.close()


class _FullDisk:
    """Stands in for a segment file on a full disk: every write fails as the kernel's would."""

    def write(self, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_a_failed_write_says_how_many_records_made_it_and_the_next_append_starts_afresh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = DiskSpool(tmp_path, max_bytes=1_000_000, segment_bytes=10_000)
    spool.open()
    spool.append(_records(3))
    real_open = Path.open

    def full_disk(self: Path, mode: str = "r", *args: object, **kwargs: object) -> IO[bytes]:
        if self.suffix == ".seg":
            real_open(self, mode).close()  # a full disk still makes the file, it refuses the bytes
            return _FullDisk()  # type: ignore[return-value]
        return real_open(self, mode, *args, **kwargs)  # type: ignore[call-overload,no-any-return]

    spool._abandon_active()  # the next append rolls a segment, on the full disk
    monkeypatch.setattr(Path, "open", full_disk)
    with pytest.raises(SpoolWriteError) as failed:
        spool.append(_records(4, start=3))
    assert failed.value.written == 0 and failed.value.errno == errno.ENOSPC
    monkeypatch.undo()
    spool.append(_records(2, start=7))  # the disk has room again
    assert _drain(spool) == _records(3) + _records(2, start=7)
    spool.close()


def test_a_segment_removed_behind_the_spools_back_does_not_block_the_rest(tmp_path: Path) -> None:
    spool = DiskSpool(tmp_path, max_bytes=1_000_000, segment_bytes=200)
    spool.open()
    spool.append(_records(20))
    first, _ = spool.oldest()  # type: ignore[misc]
    first.unlink()
    assert _drain(spool)[-1] == _records(20)[-1]
    spool.close()

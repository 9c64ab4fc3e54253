"""A bounded on-disk spool for events Kafka could not take.

Events land here when librdkafka's queue is full or a delivery failed past
the message timeout (broker down), and are replayed oldest first when the
broker is back, so an outage costs disk, not events. The spool is a
directory of append-only segment files named by creation time; the oldest
segment is replayed (or, when the spool is over its byte budget, dropped)
as a whole, which keeps both operations a rename/unlink instead of a
rewrite.

Each process claims one ``slot-N`` directory with an advisory lock, so
several workers of one service can share ``producer_spool_dir``; segments
left behind by a process that died are adopted by the next one to start.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from failstream.private_files import make_private, private_dir
from failstream.producer.spool_format import Decoded, Record, decode_all, encode

__all__ = ["DiskSpool", "Record", "SpoolWriteError", "decode_all", "encode"]

log = logging.getLogger("failstream.producer")

_SUFFIX = ".seg"
_REQUEUED = "r"  # a segment's replacement sorts right after it, before any newer segment
_MAX_SLOTS = 64


class SpoolWriteError(OSError):
    """A write to the spool failed (disk full, permissions); ``written`` records made it first."""

    def __init__(self, written: int, cause: OSError) -> None:
        super().__init__(cause.errno, f"spool write failed after {written} records: {cause}")
        self.written = written
        self.cause = cause


class DiskSpool:
    """Append-only segments under one locked slot directory; not thread-safe (the sink locks)."""

    def __init__(self, root: Path, max_bytes: int, segment_bytes: int | None = None) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes or max(1024, min(max_bytes // 8, 16 * 1024 * 1024))
        self.dir: Path | None = None
        self._lock_file: IO[bytes] | None = None
        self._segments: list[Path] = []  # oldest first; the last one may be active
        self._counts: dict[Path, int] = {}
        self._sizes: dict[Path, int] = {}
        self._active: IO[bytes] | None = None
        self._active_path: Path | None = None
        self._read_before: set[Path] = set()  # segments whose damage was already counted
        # totals kept as ints so other threads can read them without the lock
        self.events = 0
        self.size_bytes = 0
        self.corrupt = 0  # damaged stretches skipped while reading, each at least one event lost

    # --- lifecycle ----------------------------------------------------------

    def open(self) -> None:
        """Claim a slot, adopt orphaned segments, and index what is on disk."""
        if self.dir is not None:
            return
        private_dir(self.root)  # spooled events name clients: owner only (0700, files 0600)
        for n in range(_MAX_SLOTS):
            slot = self.root / f"slot-{n}"
            lock = self._try_lock(slot)
            if lock is not None:
                self.dir, self._lock_file = slot, lock
                break
        else:
            raise OSError(f"all {_MAX_SLOTS} spool slots under {self.root} are in use")
        self._adopt_orphans()
        for path in sorted(self.dir.glob(f"*{_SUFFIX}")):
            records = self._read(path)
            if not records:
                path.unlink()
                continue
            self._segments.append(path)
            self._counts[path] = len(records)
            self._sizes[path] = path.stat().st_size
            self.events += len(records)
            self.size_bytes += self._sizes[path]
        if self._segments:
            log.warning("spool: %d events from an earlier run wait for replay", self.events)

    @staticmethod
    def _try_lock(slot: Path) -> IO[bytes] | None:
        private_dir(slot)
        handle = (slot / ".lock").open("ab")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return None
        make_private(slot / ".lock")
        return handle

    def _adopt_orphans(self) -> None:
        assert self.dir is not None
        for slot in self.root.glob("slot-*"):
            if slot == self.dir or not any(slot.glob(f"*{_SUFFIX}")):
                continue
            lock = self._try_lock(slot)
            if lock is None:
                continue  # a live process owns it
            try:
                for path in slot.glob(f"*{_SUFFIX}"):
                    path.rename(self.dir / path.name)
            finally:
                lock.close()

    def _read(self, path: Path) -> list[Record]:
        """A segment's intact records; damage in it is counted and logged the first time it is read."""
        decoded: Decoded = decode_all(path.read_bytes())
        if path not in self._read_before:
            self._read_before.add(path)
            if decoded.corrupt:
                self.corrupt += decoded.corrupt
                log.error(
                    "spool segment %s: skipped %d damaged stretches (%d bytes, an event or more each); "
                    "read the %d intact events around them",
                    path.name,
                    decoded.corrupt,
                    decoded.corrupt_bytes,
                    len(decoded.records),
                )
            if decoded.torn:
                log.warning("spool segment %s: ignored %d torn bytes at its end", path.name, decoded.torn)
        return decoded.records

    def close(self) -> None:
        self._close_active()
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None
        self.dir = None
        self._segments.clear()
        self._counts.clear()
        self._sizes.clear()
        self._read_before.clear()
        self.events = self.size_bytes = 0

    def __bool__(self) -> bool:
        return bool(self._segments)

    # --- writing ------------------------------------------------------------

    def append(self, records: Iterable[Record]) -> int:
        """Write records at the tail; returns how many of the oldest were dropped for room.

        Raises :class:`SpoolWriteError` if the disk fails; what was written
        before stays (a record cut short reads as a torn or damaged one), and
        the next append starts a new segment.
        """
        assert self.dir is not None, "spool not open"
        written = 0
        try:
            for record in records:
                if self._active is None or self._sizes[self._active_path] >= self.segment_bytes:  # type: ignore[index]
                    self._roll()
                assert self._active is not None and self._active_path is not None
                data = encode(record)
                self._active.write(data)
                self._sizes[self._active_path] += len(data)
                self._counts[self._active_path] += 1
                self.events += 1
                self.size_bytes += len(data)
                written += 1
            if written:
                assert self._active is not None
                self._active.flush()  # to the OS: survives the process, not a power cut
        except OSError as exc:
            self._abandon_active()
            raise SpoolWriteError(written, exc) from exc
        return self._enforce_budget()

    def requeue(self, path: Path, records: list[Record]) -> int:
        """Put ``records`` back in place of the segment ``path``, ahead of every newer event.

        For a replay that partly failed: the events Kafka did not take keep
        their place in the order. The replacement is written before the old
        segment goes, so a crash in between replays both (a duplicate, which
        consumers drop by event id), never neither. Returns events dropped for room.
        """
        assert self.dir is not None, "spool not open"
        if not records:
            self.remove(path)
            return 0
        replacement = path.with_name(path.stem + _REQUEUED + _SUFFIX)
        data = b"".join(encode(record) for record in records)
        try:
            with replacement.open("wb") as handle:
                make_private(replacement)
                handle.write(data)
        except OSError as exc:
            replacement.unlink(missing_ok=True)
            raise SpoolWriteError(0, exc) from exc  # the old segment stays: nothing is lost
        index = self._segments.index(path)
        self._forget(path)
        self._segments.insert(index, replacement)
        self._counts[replacement] = len(records)
        self._sizes[replacement] = len(data)
        self._read_before.add(replacement)
        self.events += len(records)
        self.size_bytes += len(data)
        return self._enforce_budget()

    def _roll(self) -> None:
        self._close_active()
        assert self.dir is not None
        name = f"{time.time_ns():020d}-{os.getpid()}{_SUFFIX}"
        path = self.dir / name
        while path in self._sizes:  # same nanosecond: keep names unique and ordered
            path = self.dir / (path.stem + "a" + _SUFFIX)
        self._active = path.open("ab")
        make_private(path)
        self._active_path = path
        self._segments.append(path)
        self._counts[path] = 0
        self._sizes[path] = 0

    def _close_active(self) -> None:
        if self._active is not None:
            self._active.close()
            self._active = None
            self._active_path = None

    def _abandon_active(self) -> None:
        """After a failed write: stop appending to this segment (what it holds is still read)."""
        active = self._active
        self._active = None
        self._active_path = None
        if active is not None:
            try:
                active.close()  # flushes what is buffered: may fail the same way
            except OSError:
                pass

    def _enforce_budget(self) -> int:
        dropped = 0
        while self.size_bytes > self.max_bytes and len(self._segments) > 1:
            oldest = self._segments[0]
            count = self._counts[oldest]
            self._forget(oldest)
            dropped += count
        if dropped:
            log.error(
                "spool full (%d bytes budget): dropped the %d oldest events; "
                "raise FAILSTREAM_PRODUCER_SPOOL_MAX_BYTES or fix the Kafka connection",
                self.max_bytes,
                dropped,
            )
        return dropped

    # --- replay -------------------------------------------------------------

    def oldest(self) -> tuple[Path, list[Record]] | None:
        """The oldest segment and its records (closing it first if it is the active one)."""
        if not self._segments:
            return None
        while self._segments:
            path = self._segments[0]
            if path == self._active_path:
                self._close_active()
            try:
                return path, self._read(path)
            except FileNotFoundError:
                # removed behind our back: what it held is gone, and must not block the rest
                log.error("spool segment %s vanished with %d events", path.name, self._counts[path])
                self._forget(path)
        return None

    def remove(self, path: Path) -> None:
        """Forget a segment that was replayed."""
        self._forget(path)

    def _forget(self, path: Path) -> None:
        if path == self._active_path:
            self._close_active()
        self._segments.remove(path)
        self.events -= self._counts.pop(path)
        self.size_bytes -= self._sizes.pop(path)
        self._read_before.discard(path)
        path.unlink(missing_ok=True)

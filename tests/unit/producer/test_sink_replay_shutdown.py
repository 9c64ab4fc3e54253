"""A close during a spool replay the broker stopped answering ends at its deadline and loses nothing.

librdkafka is stood in for here (pure bookkeeping: the broker acknowledges
part of the replayed segment, then answers nothing more, and only failures are
reported, as ``delivery.report.only.error`` has it); the replay against the
real broker is proven by tests/integration/producer/test_sink.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from failstream.producer import sink as sink_module
from failstream.producer.sink import KafkaSink
from failstream.producer.spool import DiskSpool, Record
from failstream.settings import Settings


class StopsAnswering:
    """A producer whose broker acknowledges the first ``acked`` events and never answers for the rest."""

    def __init__(self, acked: int) -> None:
        self.acked = acked
        self.produced = 0
        self.acknowledged = 0

    def list_topics(self, topic: str | None = None, timeout: float = 0) -> Any:
        return SimpleNamespace(brokers={1: object()})

    def produce(
        self,
        topic: str,
        value: bytes,
        key: bytes | None = None,
        on_delivery: Callable[..., None] | None = None,
    ) -> None:
        self.produced += 1

    def poll(self, timeout: float = 0) -> int:
        before = self.acknowledged
        self.acknowledged = min(self.acked, self.produced)  # successes are not reported
        if self.acknowledged == before:
            time.sleep(min(timeout, 0.01))
        return 0

    def __len__(self) -> int:
        return self.produced - self.acknowledged

    def purge(self, in_queue: bool = True, in_flight: bool = True) -> None:
        pass

    def flush(self, timeout: float = 0) -> int:
        return len(self)


def _spooled(directory: Path, records: list[Record]) -> None:
    spool = DiskSpool(directory, 1 << 20)
    spool.open()
    spool.append(records)
    spool.close()


def _left(directory: Path) -> list[Record]:
    spool = DiskSpool(directory, 1 << 20)
    spool.open()
    try:
        left: list[Record] = []
        while (oldest := spool.oldest()) is not None:
            path, records = oldest
            left += records
            spool.remove(path)
        return left
    finally:
        spool.close()


def test_a_close_mid_replay_ends_at_its_deadline_and_spools_what_came_meanwhile(
    unit_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    topic = unit_settings.topic_failed_requests
    records: list[Record] = [(topic, b"10.0.0.1", b'{"n": %d}' % n) for n in range(10)]
    _spooled(unit_settings.producer_spool_dir, records)
    producer = StopsAnswering(acked=6)
    monkeypatch.setattr(sink_module, "Producer", lambda config: producer)

    sink = KafkaSink(unit_settings)
    sink.start()
    deadline = time.monotonic() + 10
    while producer.produced < len(records) or producer.acknowledged < producer.acked:
        assert time.monotonic() < deadline, "the replay did not run"
        time.sleep(0.01)
    later: list[Record] = [(topic, b"10.0.0.2", b'{"later": %d}' % n) for n in range(3)]
    for t, key, value in later:  # the replay holds the thread: these wait in memory, behind the spool
        sink.send(t, key, value)

    started = time.monotonic()
    left_on_disk = sink.close(timeout_s=0.3)
    assert time.monotonic() - started < 2.0  # not the 5 s of a join that gave up on the thread
    # which replayed events Kafka took is unknown: the whole segment stays (duplicates, not
    # losses), and the events that came during the replay follow it on disk
    assert left_on_disk == len(records) + len(later)
    assert _left(unit_settings.producer_spool_dir) == records + later

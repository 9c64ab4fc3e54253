"""A spool that cannot be written: counted, said once, and never the host's problem."""

from __future__ import annotations

import errno
import logging
import time
from collections.abc import Callable, Iterator

import pytest

from failstream.producer.sink import KafkaSink
from failstream.producer.spool import DiskSpool, Record, SpoolWriteError
from failstream.settings import Settings
from tests.integration.services import free_port


def _wait(check: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture
def nowhere(unit_settings: Settings) -> Iterator[KafkaSink]:
    """A sink whose broker never answers (a closed port) and whose events time out at once."""
    settings = unit_settings.model_copy(
        update={"kafka_bootstrap_servers": f"127.0.0.1:{free_port()}", "producer_message_timeout_ms": 300}
    )
    sink = KafkaSink(settings)
    yield sink
    sink.close(1)


def test_a_full_disk_is_counted_and_said_once_and_never_raises_into_the_sender(
    nowhere: KafkaSink, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def disk_full(self: DiskSpool, records: list[Record]) -> int:
        raise SpoolWriteError(0, OSError(errno.ENOSPC, "No space left on device"))

    monkeypatch.setattr(DiskSpool, "append", disk_full)
    caplog.set_level(logging.WARNING, logger="failstream.producer")
    for i in range(30):
        nowhere.send("t", b"k", b"event %d" % i)  # must not raise
        if i == 10:
            _wait(lambda: nowhere.spool_write_failures > 0)
    _wait(lambda: nowhere.dropped_other == 30)
    stats = nowhere.stats()
    assert stats["spool_write_failures"] >= 2 and stats["dropped_other"] == 30
    failing = [r for r in caplog.records if "writing to the spool" in r.getMessage()]
    assert len(failing) == 1 and "No space left on device" in failing[0].getMessage()

    monkeypatch.undo()  # room on the disk again
    nowhere.send("t", b"k", b"after")
    _wait(lambda: nowhere.spooled == 1)
    assert any("works again" in r.getMessage() for r in caplog.records)
    assert nowhere.stats()["kafka_up"] == 0  # and the broker was never there

"""An idle, healthy sink leaves librdkafka alone between half-second looks, and still delivers at once."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from failstream.producer.sink import KafkaSink
from failstream.settings import Settings
from tests.integration.producer.support import read_events
from tests.integration.services import wait_until

pytestmark = pytest.mark.integration


class PollTimes:
    """The sink's real producer, with the time of every ``poll`` noted."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.times: list[float] = []
        self._lock = threading.Lock()

    def poll(self, timeout: float = 0) -> int:
        with self._lock:
            self.times.append(time.monotonic())
        result: int = self.inner.poll(timeout)
        return result

    def __len__(self) -> int:
        return len(self.inner)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_an_idle_healthy_sink_polls_about_twice_a_second_and_a_later_event_still_arrives(
    settings: Settings, tmp_path: Path
) -> None:
    sink = KafkaSink(settings.model_copy(update={"producer_spool_dir": tmp_path / "spool"}))
    sink.start()
    topic = settings.topic_failed_requests
    sink.send(topic, "10.9.9.9", b'{"n": 0}')
    assert sink.flush(30) == 0
    wait_until(lambda: sink.kafka.up, 10, "the sink sees Kafka up")
    polls = PollTimes(sink._producer)
    sink._producer = polls  # type: ignore[assignment]
    try:
        wait_until(lambda: len(polls.times) >= 5, 10, "five polls of the idle sink")
        gaps = [b - a for a, b in zip(polls.times[1:4], polls.times[2:5], strict=True)]
        assert min(gaps) >= 0.4, gaps  # every 50 ms before: 20 wakes a second of a thread with nothing to do

        sink.send(topic, "10.9.9.9", b'{"n": 1}')
        assert sink.flush(10) == 0
        assert sorted(event["n"] for _, event in read_events(settings, topic, expect=2)) == [0, 1]
        assert sink.delivery_errors == 0
    finally:
        sink._producer = polls.inner
        sink.close(10)

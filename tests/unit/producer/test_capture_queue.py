"""The capture queue's thread: few wakes for a stream of failures, a quick one for a lone failure."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any

from failstream.producer.capture_queue import CaptureQueue, warm_up


class Batches:
    """Records when each entry was delivered, and how many deliveries (wakes with work) there were."""

    def __init__(self) -> None:
        self.delivered_at: dict[int, float] = {}
        self.batches = 0
        self._lock = threading.Lock()

    def deliver(self, entry: tuple[Any, ...]) -> None:
        with self._lock:
            self.delivered_at[entry[1]] = time.monotonic()

    def wait_for(self, item: int, within_s: float = 2.0) -> None:
        """Until ``item`` is delivered (or ``within_s`` passed; the caller's assertion then fails)."""
        deadline = time.monotonic() + within_s
        while item not in self.delivered_at and time.monotonic() < deadline:
            time.sleep(0.005)


def _queue(batches: Batches) -> CaptureQueue:
    queue = CaptureQueue(tick_s=0.05, busy_tick_s=0.4)
    original = queue._deliver

    def counting(batch: list[tuple[Any, ...]]) -> None:
        if batch:
            batches.batches += 1
        original(batch)

    queue._deliver = counting  # type: ignore[method-assign]
    return queue


def test_a_stream_of_failures_is_delivered_in_a_few_big_batches() -> None:
    batches = Batches()
    queue = _queue(batches)
    started = time.monotonic()
    try:
        for i in range(240):  # ~200 a second for ~1.2 s: at the quiet tick that would be ~24 batches
            queue.put((batches.deliver, i))
            time.sleep(0.005)
        took = time.monotonic() - started
        assert queue.flush(5.0)
    finally:
        queue.close(5.0)
    assert len(batches.delivered_at) == 240
    # one quiet gather, then one per busy tick, and the flush's
    assert batches.batches <= took / 0.4 + 3, (batches.batches, took)


def test_a_lone_failure_after_a_stream_goes_out_at_the_quiet_tick() -> None:
    batches = Batches()
    queue = _queue(batches)
    try:
        for i in range(50):
            queue.put((batches.deliver, i))
            time.sleep(0.002)
        time.sleep(1.2)  # the stream ended: a busy gather brings nothing, the thread sleeps
        put_at = time.monotonic()
        queue.put((batches.deliver, 999))
        batches.wait_for(999)
    finally:
        queue.close(5.0)
    assert batches.delivered_at[999] - put_at < 0.3  # the quiet tick (0.05 s), not the busy one (0.4 s)


def test_a_flush_does_not_wait_out_a_busy_gather() -> None:
    batches = Batches()
    queue = _queue(batches)
    try:
        for i in range(20):
            queue.put((batches.deliver, i))
        batches.wait_for(19)  # delivered at the quiet tick: the thread now gathers for the busy tick
        queue.put((batches.deliver, 100))
        started = time.monotonic()
        assert queue.flush(5.0)
        took = time.monotonic() - started
    finally:
        queue.close(5.0)
    assert 100 in batches.delivered_at
    assert took < 0.3, took


def test_the_first_failure_beside_the_warm_up_starts_no_stream() -> None:
    batches = Batches()
    queue = _queue(batches)
    middleware = SimpleNamespace(recorder=SimpleNamespace(sink=object(), topic="failed-requests"))
    try:
        queue.put((warm_up, middleware))  # what a middleware puts at the server's start-up
        queue.put((batches.deliver, 1))
        batches.wait_for(1)  # both delivered at the quiet tick
        put_at = time.monotonic()
        queue.put((batches.deliver, 2))
        batches.wait_for(2)
    finally:
        queue.close(5.0)
    assert batches.delivered_at[2] - put_at < 0.25  # the quiet tick (0.05 s), not a busy one (0.4 s)

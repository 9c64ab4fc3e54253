"""The buffer the conductor fills: batches, back-pressure and clearing on revocation."""

from __future__ import annotations

import asyncio
from typing import Any

from failstream.stream_app.batched_topic import MessageBuffer


class Pressure:
    def __init__(self) -> None:
        self.paused = 0
        self.resumed = 0

    def high(self) -> None:
        self.paused += 1

    def drop(self) -> None:
        self.resumed += 1


def put(buffer: MessageBuffer, pressure: Pressure, items: range) -> None:
    for item in items:
        buffer.put_nowait_enhanced(
            item,  # type: ignore[arg-type]  # any object stands in for a message
            on_pressure_high=pressure.high,
            on_pressure_drop=pressure.drop,
        )


async def test_a_full_batch_is_handed_out_at_once_in_arrival_order() -> None:
    buffer = MessageBuffer(max_batch=3, high_water=100)
    put(buffer, Pressure(), range(7))
    assert await asyncio.wait_for(buffer.take(within_s=60), 1) == [0, 1, 2]
    assert await asyncio.wait_for(buffer.take(within_s=60), 1) == [3, 4, 5]
    assert len(buffer) == 1


async def test_a_partial_batch_waits_at_most_within_s() -> None:
    buffer = MessageBuffer(max_batch=10, high_water=100)
    put(buffer, Pressure(), range(2))
    assert await asyncio.wait_for(buffer.take(within_s=0.05), 1) == [0, 1]


async def test_a_batch_filling_while_waiting_is_handed_out_without_waiting_for_the_timeout() -> None:
    buffer = MessageBuffer(max_batch=3, high_water=100)
    waiting: asyncio.Task[list[Any]] = asyncio.ensure_future(buffer.take(within_s=60))
    await asyncio.sleep(0)
    put(buffer, Pressure(), range(3))
    assert await asyncio.wait_for(waiting, 1) == [0, 1, 2]


async def test_fetching_pauses_over_the_high_water_mark_and_resumes_below_half_of_it() -> None:
    buffer = MessageBuffer(max_batch=2, high_water=4)
    pressure = Pressure()
    put(buffer, pressure, range(5))
    assert pressure.paused == 2  # at 4 and at 5
    await buffer.take(within_s=0)  # 3 left: not yet below half
    assert pressure.resumed == 0
    await buffer.take(within_s=0)  # 1 left
    assert pressure.resumed == 1


def test_clearing_drops_the_waiting_messages_and_resumes_fetching() -> None:
    buffer = MessageBuffer(max_batch=2, high_water=2)
    pressure = Pressure()
    put(buffer, pressure, range(3))
    buffer.clear()
    assert len(buffer) == 0
    assert pressure.resumed == 1
    assert not buffer.full(), "the conductor is never refused: fetching pauses instead"

"""The persister's two stages: the next batch's raw insert beside this one's counters, in order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from failstream.stream_app.mongo.in_turn import in_turn


async def _items(n: int) -> AsyncIterator[int]:
    for i in range(n):
        yield i


def test_the_next_first_stage_runs_while_the_previous_second_stage_does() -> None:
    log: list[str] = []

    async def run() -> None:
        next_first_began = asyncio.Event()

        async def first(i: int) -> int:
            log.append(f"first {i}")
            if i == 1:
                next_first_began.set()
            return i

        async def second(i: int) -> None:
            log.append(f"second {i} begins")
            if i == 0:  # one stage after the other would wait here for ever
                await asyncio.wait_for(next_first_began.wait(), 5)
            await asyncio.sleep(0)
            log.append(f"second {i} ends")

        await in_turn(_items(3), first, second)

    asyncio.run(run())

    assert log.index("first 1") < log.index("second 0 ends")
    # seconds run one at a time and in order, each after its own first
    seconds = [e for e in log if e.startswith("second")]
    assert seconds == [f"second {i} {w}" for i in range(3) for w in ("begins", "ends")]
    assert all(log.index(f"first {i}") < log.index(f"second {i} begins") for i in range(3))


def test_an_error_of_a_first_stage_is_raised_only_after_the_second_under_way_ended() -> None:
    ended: list[int] = []

    async def first(i: int) -> int:
        if i == 1:
            raise RuntimeError("mongodb went away")
        return i

    async def second(i: int) -> None:
        await asyncio.sleep(0.05)
        ended.append(i)

    with pytest.raises(RuntimeError, match="went away"):
        asyncio.run(in_turn(_items(3), first, second))

    assert ended == [0]


def test_an_error_of_a_second_stage_stops_the_items_after_it() -> None:
    firsts: list[int] = []

    async def first(i: int) -> int:
        firsts.append(i)
        return i

    async def second(i: int) -> None:
        if i == 0:
            raise RuntimeError("count failed")

    with pytest.raises(RuntimeError, match="count failed"):
        asyncio.run(in_turn(_items(5), first, second))

    # the batch after the failed one may have had its raw insert (idempotent); none later
    assert firsts == [0, 1]

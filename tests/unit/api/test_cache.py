from __future__ import annotations

import asyncio

from failstream.api.cache import StaleWhileRevalidate


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_concurrent_callers_share_one_computation() -> None:
    calls = 0

    async def compute() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        return calls

    cache: StaleWhileRevalidate[int] = StaleWhileRevalidate(2.0)
    assert await asyncio.gather(*(cache.get("1h", compute) for _ in range(50))) == [1] * 50
    assert calls == 1


async def test_a_stale_value_is_served_while_one_refresh_runs_in_the_background() -> None:
    clock = Clock()
    values = iter([1, 2, 3])
    started = asyncio.Event()
    release = asyncio.Event()

    async def compute() -> int:
        value = next(values)
        if value == 2:
            started.set()
            await release.wait()
        return value

    cache: StaleWhileRevalidate[int] = StaleWhileRevalidate(2.0, clock=clock)
    assert await cache.get("k", compute) == 1
    clock.now = 3.0  # stale, not too old
    assert await cache.get("k", compute) == 1  # served at once
    await started.wait()
    assert await cache.get("k", compute) == 1  # the refresh is not started twice
    release.set()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert await cache.get("k", compute) == 2


async def test_a_very_old_value_is_recomputed_before_answering_and_errors_are_not_cached() -> None:
    clock = Clock()
    answers: list[int | Exception] = [1, RuntimeError("db down"), 3]

    async def compute() -> int:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    cache: StaleWhileRevalidate[int] = StaleWhileRevalidate(2.0, clock=clock)
    assert await cache.get("k", compute) == 1
    clock.now = 100.0
    try:
        await cache.get("k", compute)
    except RuntimeError:
        pass
    else:
        raise AssertionError("the error should reach the caller")
    assert await cache.get("k", compute) == 3


async def test_ttl_zero_computes_every_time() -> None:
    calls = 0

    async def compute() -> int:
        nonlocal calls
        calls += 1
        return calls

    cache: StaleWhileRevalidate[int] = StaleWhileRevalidate(0)
    assert [await cache.get("k", compute) for _ in range(3)] == [1, 2, 3]


async def test_a_slow_computation_rests_as_long_as_it_took_and_is_never_waited_for_again() -> None:
    clock = Clock()
    values = iter([1, 2, 3])

    async def compute() -> int:
        clock.now += 40.0  # a scan of every IP's counters at a million failures
        return next(values)

    cache: StaleWhileRevalidate[int] = StaleWhileRevalidate(2.0, clock=clock)
    assert await cache.get("k", compute) == 1  # the first caller waits: nothing to serve yet
    clock.now += 30.0  # older than the ttl, younger than the computation took
    assert await cache.get("k", compute) == 1
    assert not cache._inflight  # no refresh yet: the database rests as long as it worked
    clock.now += 60.0  # past max_stale_s (10 s), within three durations: served, refreshed behind
    assert await cache.get("k", compute) == 1
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert await cache.get("k", compute) == 2

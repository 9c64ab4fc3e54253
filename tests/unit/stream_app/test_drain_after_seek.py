"""The worker's drain loop delivers every record once across a seek, and books no gap.

Faust resumes a restarted worker's stream partitions just before it seeks
them to the committed offsets, so the first fetch (the backlog) can be under
way when the seek lands: it may come back from before the seek or after it,
and it may be half delivered. Like aiokafka's, the fetcher here moves its
position past whatever a fetch hands out, so a batch the loop drops is not
fetched again unless the loop seeks back: the loss seen in fault runs (a
restarted worker booked the failures sent while it was down as a gap).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from types import SimpleNamespace
from typing import Any

from faust.types import TP

from failstream.stream_app.faust_internals import DirectDeliveryConsumer

PARTITION = TP("failed-requests", 0)
COMMITTED = 100  # the next offset to read, as Kafka stores it
END = 700  # the log end: offsets COMMITTED..END-1 wait to be read
BATCH = 250

#: called with (fetch number, index in the batch, or -1 while the fetch waits); True cuts the batch
Hook = Callable[[int, int], Awaitable[bool]]


class _Stopped:
    def __init__(self) -> None:
        self.flag = False

    def is_set(self) -> bool:
        return self.flag


class _Partition(DirectDeliveryConsumer):
    """Only what ``_drain_messages`` and ``perform_seek`` read, over one partition's log."""

    def __init__(self, hook: Hook) -> None:
        # no Faust service set-up: only the attributes the loop reads
        self.delivered: list[int] = []
        self.gaps: list[tuple[int, int]] = []
        self.fetch_at = COMMITTED  # the fetcher's: where its next fetch starts
        self.fetches = 0
        self._hook = hook
        self._read_offset: dict[TP, int | None] = {PARTITION: COMMITTED}
        self._committed_offset: dict[TP, int | None] = {PARTITION: COMMITTED}
        self._commit_every = None
        self._n_acked = 0
        self.__dict__["_stopped"] = _Stopped()
        self.diag = SimpleNamespace(set_flag=lambda flag: None, unset_flag=lambda flag: None)
        self.app = SimpleNamespace(topics=SimpleNamespace(acks_enabled_for=lambda topic: True))
        self.fetcher = SimpleNamespace(_stopped=_Stopped())
        self.callback = None  # every message goes the direct way here

    @property
    def should_stop(self) -> bool:
        return False

    def _direct_delivery(self) -> Any:
        def deliver(tp: TP, message: Any) -> bool:
            self.delivered.append(message.offset)
            return True

        return deliver

    async def _add_gap(self, tp: TP, offset_from: int, offset_to: int) -> None:
        self.gaps.append((offset_from, offset_to))

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)

    def assignment(self) -> set[TP]:
        return {PARTITION}

    async def seek_to_committed(self) -> dict[TP, int]:
        self.fetch_at = COMMITTED
        return {PARTITION: COMMITTED}

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Any]]:  # type: ignore[override]  # noqa: ASYNC109
        self.fetches += 1
        if self.fetch_at >= END or self.fetches > 20:
            self.__dict__["_stopped"].flag = True
            return
        fetch = self.fetches
        if await self._hook(fetch, -1):
            return
        records = range(self.fetch_at, min(self.fetch_at + BATCH, END))
        self.fetch_at = records.stop  # handed out: the fetcher moves past them
        for n, offset in enumerate(records):
            if await self._hook(fetch, n):
                return  # Faust's getmany cuts a batch short itself (a new generation)
            yield PARTITION, SimpleNamespace(offset=offset, topic=PARTITION.topic)

    async def drain(self) -> None:
        await self._drain_messages(self.fetcher)  # type: ignore[arg-type]


def _every_record_once_in_order_after(loop: _Partition, start: int) -> None:
    assert loop.gaps == []  # nothing acked unread
    assert sorted(set(loop.delivered)) == list(range(COMMITTED, END))
    assert loop.delivered[start:] == list(range(COMMITTED, END))


async def test_a_batch_fetched_after_a_seek_that_landed_while_it_waited_is_read_again() -> None:
    # the restarted worker's case: the fetch starts, the seek lands, the batch comes back
    async def hook(fetch: int, n: int) -> bool:
        if fetch == 1 and n == -1:
            await loop.perform_seek()
        return False

    loop = _Partition(hook)
    await loop.drain()
    _every_record_once_in_order_after(loop, 0)


async def test_a_batch_half_delivered_when_a_seek_lands_is_dropped_and_read_again() -> None:
    async def hook(fetch: int, n: int) -> bool:
        if fetch == 1 and n == 150:
            await loop.perform_seek()
        return False

    loop = _Partition(hook)
    await loop.drain()
    _every_record_once_in_order_after(loop, 150)


async def test_a_seek_under_way_for_several_fetches_loses_nothing() -> None:
    lands = asyncio.Event()

    async def slow_seek_to_committed() -> dict[TP, int]:
        await lands.wait()  # the consumer thread is still at it
        loop.fetch_at = COMMITTED
        return {PARTITION: COMMITTED}

    async def hook(fetch: int, n: int) -> bool:
        if fetch == 1 and n == 50:
            asyncio.get_running_loop().call_later(0.05, lands.set)
            seek.append(asyncio.create_task(loop.perform_seek()))
            await asyncio.sleep(0)  # Recovery's seek begins, and lands a little later
        return False

    seek: list[asyncio.Task[None]] = []
    loop = _Partition(hook)
    loop.seek_to_committed = slow_seek_to_committed  # type: ignore[method-assign]
    await loop.drain()
    await seek[0]
    assert loop.gaps == []
    assert sorted(set(loop.delivered)) == list(range(COMMITTED, END))


async def test_a_batch_faust_cut_short_after_a_seek_is_read_again() -> None:
    # a seek lands while the fetch waits; then Faust's getmany, seeing a new generation,
    # stops yielding the batch before its first record
    async def hook(fetch: int, n: int) -> bool:
        if fetch == 1 and n == -1:
            await loop.perform_seek()
        return fetch == 1 and n == 0

    loop = _Partition(hook)
    await loop.drain()
    _every_record_once_in_order_after(loop, 0)


async def test_a_seek_back_that_fails_is_retried_before_anything_else_is_read() -> None:
    failures = [ConnectionError("broker away")]
    seek_to_committed = _Partition.seek_to_committed

    async def flaky_seek_to_committed() -> dict[TP, int]:
        if seeks and failures:  # the seek back, not the rebalance's
            raise failures.pop()
        return await seek_to_committed(loop)

    async def hook(fetch: int, n: int) -> bool:
        if fetch == 1 and n == -1:
            await loop.perform_seek()
            seeks.append(fetch)
        return False

    seeks: list[int] = []
    loop = _Partition(hook)
    loop.seek_to_committed = flaky_seek_to_committed  # type: ignore[method-assign]
    await loop.drain()
    assert failures == []  # it did fail once
    _every_record_once_in_order_after(loop, 0)


class _ConsumerThread:
    """What ``seek_to_committed`` asks of Faust's consumer thread: aiokafka's answers, and where it seeks."""

    def __init__(self, committed: dict[TP, int | None]) -> None:
        self.committed = committed
        self.to_beginning: list[TP] = []

    async def seek_to_committed(self) -> dict[TP, int | None]:
        return dict(self.committed)  # aiokafka seeks only the offsets above 0 itself

    async def seek_to_beginning(self, *partitions: TP) -> None:
        self.to_beginning += partitions


async def test_a_batched_partition_with_nothing_committed_is_read_again_from_its_beginning() -> None:
    # aiokafka leaves a partition without a committed offset where its fetcher is: a batch
    # dropped at a seek before the group's first commit was skipped, with no gap to say so
    fresh, zero, committed = TP("failed-requests", 0), TP("failed-requests", 1), TP("failed-requests", 2)
    changelog = TP("stream-ip-state-changelog", 0)
    thread = _ConsumerThread({fresh: None, zero: 0, committed: 57, changelog: None})
    consumer = object.__new__(DirectDeliveryConsumer)
    consumer.__dict__["_thread"] = thread
    consumer.app = SimpleNamespace(batched_topics={"failed-requests": None})  # type: ignore[assignment]
    offsets = await consumer.seek_to_committed()
    assert sorted(thread.to_beginning) == [fresh, zero]  # a changelog is left to Faust's recovery
    assert offsets == {fresh: None, zero: 0, committed: 57, changelog: None}

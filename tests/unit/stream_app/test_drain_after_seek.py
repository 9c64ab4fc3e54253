"""The worker's drain loop never delivers the rest of a batch fetched before a seek.

Faust resumes a restarted worker's stream partitions just before it seeks
them to the committed offsets; the first fetch (the backlog) can be half
delivered when the seek lands. Delivering its rest would move the read
offset past records the seek fetches again and book the jump as a gap
(acked, never processed).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

from faust.types import TP

from failstream.stream_app.faust_internals import DirectDeliveryConsumer

PARTITION = TP("failed-requests", 0)


class _Stopped:
    def __init__(self) -> None:
        self.flag = False

    def is_set(self) -> bool:
        return self.flag


class _Loop(DirectDeliveryConsumer):
    """Only what ``_drain_messages`` reads, around two fetches with a seek between them."""

    def __init__(self, fetches: list[list[int]], seek_after: int, *, lands_in_next: bool = False) -> None:
        # no Faust service set-up: only the attributes the loop reads
        self.delivered: list[int] = []
        self.gaps: list[tuple[int, int]] = []
        self._fetches = fetches
        self._seek_after = seek_after
        #: the seek starts in one fetch and lands in the next, fetched from the old position meanwhile
        self._lands_in_next = lands_in_next
        self._read_offset: dict[TP, int | None] = {PARTITION: 100}  # committed: next to read is 100
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

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Any]]:  # type: ignore[override]  # noqa: ASYNC109
        if not self._fetches:
            self.__dict__["_stopped"].flag = True
            return
        for n, offset in enumerate(self._fetches.pop(0)):
            if n == self._seek_after:
                if self._lands_in_next:  # perform_seek has begun: the seek itself is under way
                    self._lands_in_next = False
                    self._seek_epoch += 1
                else:  # it lands (once), as Recovery's perform_seek does
                    self._seek_after = -1
                    self._seek_epoch += 1
                    self._read_offset[PARTITION] = 100
            yield PARTITION, SimpleNamespace(offset=offset, topic=PARTITION.topic)


async def test_a_batch_fetched_before_a_seek_is_dropped_and_fetched_again_with_no_gap() -> None:
    stale_then_again = [list(range(100, 400)), list(range(100, 400))]
    loop = _Loop(stale_then_again, seek_after=150)
    await loop._drain_messages(loop.fetcher)  # type: ignore[arg-type]
    assert loop.gaps == []  # nothing acked unread
    assert sorted(set(loop.delivered)) == list(range(100, 400))  # every record reached the buffer
    assert loop.delivered[150:] == list(range(100, 400))  # after the seek: all of them, in order


class _SeekUnderWay(_Loop):
    """The real ``perform_seek`` runs beside the loop: it starts in one fetch and lands in the next."""

    def __init__(self, fetches: list[list[int]]) -> None:
        super().__init__(fetches, seek_after=-1)
        self._committed_offset: dict[TP, int | None] = {}
        self._lands = asyncio.Event()
        self._seek: asyncio.Task[None] | None = None
        self._fetch = 0

    async def seek_to_committed(self) -> dict[TP, int]:
        await self._lands.wait()  # the consumer thread is still at it
        return {PARTITION: 100}

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Any]]:  # type: ignore[override]  # noqa: ASYNC109
        if not self._fetches:
            self.__dict__["_stopped"].flag = True
            return
        self._fetch += 1
        for n, offset in enumerate(self._fetches.pop(0)):
            if n == 50 and self._fetch == 1:
                self._seek = asyncio.create_task(self.perform_seek())
                await asyncio.sleep(0)  # Recovery's seek begins
            if n == 50 and self._fetch == 2:
                self._lands.set()
                assert self._seek is not None
                await self._seek  # and lands mid-batch
            yield PARTITION, SimpleNamespace(offset=offset, topic=PARTITION.topic)


async def test_a_batch_fetched_while_the_seek_ran_is_dropped_when_it_lands() -> None:
    # first fetch: the seek begins; second, from the old position while it runs; third, after it
    loop = _SeekUnderWay([list(range(100, 400)), list(range(150, 400)), list(range(100, 400))])
    await loop._drain_messages(loop.fetcher)  # type: ignore[arg-type]
    assert loop.gaps == []
    assert sorted(set(loop.delivered)) == list(range(100, 400))

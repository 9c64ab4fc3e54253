"""Alerts of different subjects run side by side; one subject's alerts run in order.

Kafka already orders a subject's alerts within its partition (the key is the
subject); handling them one after another keeps firing before renotify for
the rate limit. Different subjects do not wait for each other, and the
consumer keeps fetching while earlier alerts are still being sent, so one
slow email does not hold back every alert behind it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable


class SubjectLanes:
    def __init__(self, concurrency: int) -> None:
        self._slots = asyncio.Semaphore(concurrency)
        self._tails: dict[Hashable, asyncio.Task[None]] = {}
        self._running: set[asyncio.Task[None]] = set()
        self._error: BaseException | None = None

    def submit(self, lane: Hashable, work: Callable[[], Awaitable[None]]) -> None:
        previous = self._tails.get(lane)
        task = asyncio.create_task(self._run(previous, work))
        self._tails[lane] = task
        self._running.add(task)
        task.add_done_callback(lambda t: self._done(lane, t))

    async def _run(self, previous: asyncio.Task[None] | None, work: Callable[[], Awaitable[None]]) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        async with self._slots:
            await work()

    def _done(self, lane: Hashable, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        if self._tails.get(lane) is task:
            del self._tails[lane]
        if not task.cancelled() and task.exception() is not None and self._error is None:
            self._error = task.exception()

    def in_flight(self) -> int:
        return len(self._running)

    async def wait_for_room(self, limit: int) -> None:
        """Backpressure: stop fetching while ``limit`` alerts are already under way."""
        while len(self._running) >= limit:
            await asyncio.wait(set(self._running), return_when=asyncio.FIRST_COMPLETED)

    def raise_if_failed(self) -> None:
        """A bug in handling an alert stops the process: its offset stays uncommitted.

        Outages never get here: they are waited out where they happen.
        """
        if self._error is not None:
            raise self._error

    def cancel(self) -> None:
        """Give up on what is under way (shutdown): its offsets stay uncommitted, its claims expire."""
        for task in list(self._running):
            task.cancel()

    async def drain(self) -> None:
        if self._running:
            await asyncio.wait(set(self._running))
        self.raise_if_failed()

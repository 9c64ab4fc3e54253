"""The buffer between Faust's conductor and the batched failures task (see ``batched_topic``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable

from faust.types import Message


class MessageBuffer:
    """Messages the conductor delivered, in arrival order, handed out in batches.

    Duck-types the two methods of ``ThrowableQueue`` that Faust's conductor
    calls (``full`` and ``put_nowait_enhanced``) and the ``clear`` that flow
    control calls when partitions are revoked.
    """

    def __init__(self, max_batch: int, high_water: int) -> None:
        self.max_batch = max_batch
        self.high_water = max(high_water, max_batch)
        self._messages: deque[Message] = deque()
        self._batch_ready: asyncio.Event | None = None
        self._paused: set[Callable[[], None]] = set()

    def __len__(self) -> int:
        return len(self._messages)

    def full(self) -> bool:
        return False  # never refuse: over the high-water mark the partition stops fetching instead

    def put_nowait_enhanced(
        self,
        value: Message,
        *,
        on_pressure_high: Callable[[], None],
        on_pressure_drop: Callable[[], None],
    ) -> bool:
        self._messages.append(value)
        n = len(self._messages)
        if n >= self.max_batch and self._batch_ready is not None:
            self._batch_ready.set()
        if n >= self.high_water:
            on_pressure_high()
            self._paused.add(on_pressure_drop)
            return True
        return False

    def clear(self) -> None:
        self._messages.clear()
        self._resume_fetching()

    async def take(self, within_s: float) -> list[Message]:
        """Up to ``max_batch`` messages: at once when that many wait, else after ``within_s``."""
        if self._batch_ready is None:
            self._batch_ready = asyncio.Event()
        if len(self._messages) < self.max_batch:
            self._batch_ready.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._batch_ready.wait(), within_s)
        n = min(len(self._messages), self.max_batch)
        popleft = self._messages.popleft
        batch = [popleft() for _ in range(n)]
        if self._paused and len(self._messages) <= self.high_water // 2:
            self._resume_fetching()
        return batch

    def _resume_fetching(self) -> None:
        paused, self._paused = self._paused, set()
        for resume in paused:
            resume()

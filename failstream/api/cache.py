"""A tiny stale-while-revalidate cache shared by concurrent requests.

Reading a window's counts costs MongoDB a collection scan on FerretDB (it
pushes no filter down), tens to hundreds of milliseconds; fifty dashboards
asking the same question each second must not each pay it. One computation
per key runs at a time (single flight); a value older than ``ttl_s`` is still
served while one background task refreshes it, so callers never wait for a
refresh, only for the very first computation or after a long idle period
(older than ``max_stale_s``). Figures are thus at most about ``ttl_s`` plus
one computation old, which ``computed_at`` in each response states.

A computation slower than ``ttl_s`` (top IPs scan ``ip_stats``, one document
per IP, which FerretDB reads whole) stretches both by its own duration: the
next refresh starts no sooner than one duration after the last ended, so the
database is kept busy at most half the time, and callers are served the last
value meanwhile instead of all waiting on it.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class _Entry(Generic[T]):
    value: T
    at: float
    took: float = 0.0  # seconds the computation of ``value`` ran


class StaleWhileRevalidate(Generic[T]):
    def __init__(
        self, ttl_s: float, *, max_entries: int = 256, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl_s = ttl_s
        self.max_stale_s = max(ttl_s * 5, 10.0)
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[Hashable, _Entry[T]] = OrderedDict()
        self._inflight: dict[Hashable, asyncio.Future[T]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def get(self, key: Hashable, compute: Callable[[], Awaitable[T]]) -> T:
        if self.ttl_s <= 0:
            return await compute()
        entry = self._entries.get(key)
        now = self._clock()
        if entry is not None:
            age = now - entry.at
            if age <= max(self.ttl_s, entry.took):
                return entry.value
            if age <= max(self.max_stale_s, 3 * entry.took):
                if key not in self._inflight:
                    self._start(key, compute)
                return entry.value
        inflight = self._inflight.get(key) or self._start(key, compute)
        return await asyncio.shield(inflight)

    def _start(self, key: Hashable, compute: Callable[[], Awaitable[T]]) -> asyncio.Future[T]:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future

        async def run() -> None:
            began = self._clock()
            try:
                value = await compute()
            except asyncio.CancelledError:
                future.cancel()
                raise
            except Exception as exc:  # handed to every waiter; nothing cached
                future.set_exception(exc)
                future.exception()  # mark retrieved: a background refresh may have no waiter
            else:
                self._store(key, value, took=self._clock() - began)
                future.set_result(value)
            finally:
                self._inflight.pop(key, None)

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return future

    def _store(self, key: Hashable, value: T, *, took: float) -> None:
        self._entries[key] = _Entry(value, self._clock(), took)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

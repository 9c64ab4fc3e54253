"""A watchdog on a detection task: a task that stops moving is said, with where it waits.

Each detection task (failures, email events, prefixes) takes a batch at
least every ``stream_batch_within_s``. One that has not come round for
``stall_after_s`` while the worker runs is stuck on an await that never
ends, and its detection has stopped while everything else (sweeps, metrics,
the persister) goes on: the worst way to go blind. The watch says so once,
in one error line naming the chain of awaits it is stuck in, marks the
worker not ready (``/readyz`` names the task, ``failures task`` say) and
counts it, and says so again when the task moves on. Waiting out a
dependency that is down is no stall: that outage is said and shown already.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from types import CoroutineType, GeneratorType
from typing import Any

from failstream.dependency import Dependency
from failstream.stream_app import metrics

log = logging.getLogger("failstream.stream")

#: Far beyond any healthy round (a batch, its alerts acknowledged, a state flush).
STALL_AFTER_S = 60.0


class TaskStalled(Exception):
    """A detection task has not come round for a while; the message says where it waits."""


def await_chain(task: asyncio.Task[Any]) -> list[str]:
    """Where a suspended task waits, outermost first: ``file:line in function`` per coroutine."""
    where: list[str] = []
    awaited: Any = task.get_coro()
    while awaited is not None:
        frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
        if frame is None:
            if not isinstance(awaited, CoroutineType | GeneratorType):
                where.append(repr(awaited)[:200])  # the future or awaitable at the bottom
            break
        where.append(f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}")
        awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
    return where


class StallWatch:
    def __init__(
        self,
        name: str,
        stall_after_s: float = STALL_AFTER_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.stall_after_s = stall_after_s
        self._clock = clock
        self._last = clock()
        self._task: asyncio.Task[Any] | None = None
        self._readiness = Dependency(name, quiet=True)

    def started(self, task: asyncio.Task[Any] | None) -> None:
        self._task = task
        self.beat()

    def beat(self) -> None:
        """The watched task came round."""
        self._last = self._clock()
        if not self._readiness.up:
            self._readiness.back()
            log.warning("the %s moves again", self.name)

    def check(self) -> bool:
        """Say (once) that the task is stuck, and where; True while it is."""
        if any(name != self.name for name in Dependency.down_now()):
            self._last = self._clock()  # waiting out a known outage (said already) is not a stall
            return False
        idle = self._clock() - self._last
        if idle < self.stall_after_s or self._task is None or self._task.done():
            return False
        if self._readiness.up:
            where = " -> ".join(await_chain(self._task)) or "unknown"
            log.error("the %s has not come round for %.0f s; it waits at: %s", self.name, idle, where)
            metrics.TASK_STALLS.labels(self.name).inc()
            self._readiness.down(TaskStalled(f"no round for {idle:.0f} s"))
        return True

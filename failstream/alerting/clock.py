"""Time as an injected function, so every "send now?" decision is testable without waiting."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from failstream.events import now_ms

#: Milliseconds since the epoch, UTC: the unit of every time in ``alerts`` and ``emails``.
Clock = Callable[[], int]
#: ``asyncio.sleep``-compatible; tests pass a fake that advances a fake clock.
Sleep = Callable[[float], Awaitable[None]]

system_clock: Clock = now_ms
system_sleep: Sleep = asyncio.sleep

"""Two stages over a stream of batches: the next batch's first stage runs beside this one's second.

The persister stores a batch's raw events (``failures.stage``, mostly the
server inserting them) while the previous batch's counters are written and
its offsets committed (``failures.count``): the counters' statements no
longer add to the time of a batch, as long as batches keep coming.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")
U = TypeVar("U")


async def in_turn(
    items: AsyncIterable[T],
    first: Callable[[T], Awaitable[U]],
    second: Callable[[U], Awaitable[None]],
) -> None:
    """``first`` of each item in order, ``second`` of each in order, one at a time each.

    ``first`` of an item (and the fetch of the next item) runs while
    ``second`` of the item before it does; ``second`` of an item begins only
    once its ``first`` and the previous ``second`` have ended. On an error
    the ``second`` under way ends before the error is raised (so a retry
    never runs beside it); on cancellation it is cancelled too.
    """
    pending: asyncio.Future[None] | None = None
    try:
        async for item in items:
            done = await first(item)
            if pending is not None:
                await pending
            pending = asyncio.ensure_future(second(done))
        if pending is not None:
            await pending
    except BaseException as exc:
        if pending is not None:
            if isinstance(exc, asyncio.CancelledError):
                pending.cancel()
            await asyncio.wait([pending])
            if not pending.cancelled():
                pending.exception()  # the first error is the one raised; this one is retrieved
        raise

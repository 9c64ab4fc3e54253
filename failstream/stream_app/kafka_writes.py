"""Kafka writes the worker waits on: every record acknowledged before what depends on it.

Offsets are committed once the messages they cover are acked, and the
worker acks a batch only after its changelog records and dead letters are
written. A send that fails (broker away, leader moving) is sent again with
backoff, Kafka marked down meanwhile, until the broker acknowledges it:
duplicates are harmless (a changelog keeps the last value of a key, and a
dead letter is looked at by a person), a lost record is not.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from failstream.dependency import Backoff, Dependency

#: Hands one record (or batch) to the producer; the awaitable it returns resolves on the broker's ack.
Send = Callable[[], Awaitable[Awaitable[object]]]


async def _sent(send: Send) -> object:
    return await (await send())


async def until_acknowledged(
    sends: Sequence[Send],
    kafka: Dependency,
    *,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> None:
    """Run every send, again and again for those that failed, until all are acknowledged."""
    pending = list(sends)
    backoff = Backoff(first_s=0.1)
    failed_before = False
    while pending:
        # a cancellation of this task ends the gather itself; a cancelled *send* (the
        # producer dropping a batch) comes back as a result and is sent again like any failure
        results = await asyncio.gather(*(_sent(s) for s in pending), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        pending = [s for s, r in zip(pending, results, strict=True) if isinstance(r, BaseException)]
        if pending:
            failed_before = True
            kafka.down(errors[0])
            await sleep(backoff.next())
    if failed_before:
        kafka.back()

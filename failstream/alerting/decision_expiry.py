"""Decisions whose time is up are removed (a tombstone on the topic, ``removed`` in the feed).

A loop in the alerting process, every ``decision_sweep_s``; several
processes sweeping at once log a removal twice at most, which consumers
apply idempotently. The export and the feed's listing never show an expired
decision even before the sweep: they compare ``until`` with the time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from failstream.alerting.clock import Clock
from failstream.decisions.store import DecisionStore

log = logging.getLogger("failstream.alerting")


async def expire_decisions(
    store: DecisionStore,
    mongo: Any,
    clock: Clock,
    every_s: float,
    stop: asyncio.Event,
    on_change: Callable[[], None],
) -> None:
    while not stop.is_set():
        expired = await mongo(lambda: store.expire_due(clock()))
        if expired:
            log.info("decisions expired: %s", " ".join(expired[:5]) + (" ..." if len(expired) > 5 else ""))
            on_change()
        await mongo(lambda: store.sweep_old(clock()))
        try:
            await asyncio.wait_for(stop.wait(), every_s)
        except TimeoutError:
            pass

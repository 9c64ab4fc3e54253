"""A key counts as published only once the broker acknowledged its send."""

from __future__ import annotations

import asyncio

from failstream.settings import Settings
from failstream.stream_app.published_alerts import PublishedAlerts


async def test_acknowledged_send_marks_the_key_published() -> None:
    published = PublishedAlerts(Settings())
    ack: asyncio.Future[object] = asyncio.get_running_loop().create_future()
    published.sending("k", ack)
    assert "k" not in published and published.in_flight("k") is ack
    ack.set_result("metadata")
    await asyncio.sleep(0)
    assert "k" in published and published.in_flight("k") is None


async def test_failed_or_cancelled_send_leaves_the_key_to_be_sent_again() -> None:
    published = PublishedAlerts(Settings())
    loop = asyncio.get_running_loop()
    failed: asyncio.Future[object] = loop.create_future()
    cancelled: asyncio.Future[object] = loop.create_future()
    published.sending("failed", failed)
    published.sending("cancelled", cancelled)
    failed.set_exception(ConnectionError("broker gone"))
    cancelled.cancel()
    await asyncio.sleep(0)
    assert "failed" not in published and published.in_flight("failed") is None
    assert "cancelled" not in published and published.in_flight("cancelled") is None
    failed.exception()  # retrieved: the worker reads it from gather

"""A restarted worker knows which alert keys are already on ``alerts`` before it sends any."""

from __future__ import annotations

import asyncio

import pytest

from failstream.events import Alert, dumps, new_event_id, now_ms
from failstream.settings import Settings
from failstream.stream_app.published_alerts import PublishedAlerts
from tests.integration.stream_app.kafka_io import produce

pytestmark = pytest.mark.integration


def alert(key: str, subject: str) -> Alert:
    return Alert(
        event_id=new_event_id(),
        ts=now_ms(),
        alert_key=key,
        rule="ip-failures",
        subject=subject,
        episode_start=1,
        count=5,
        threshold=5,
        window_s=600,
        first_seen=1,
        last_seen=2,
    )


async def test_keys_published_before_start_and_after_are_both_known(settings: Settings) -> None:
    before = [alert(f"ip-failures:10.1.0.{i}:1", f"10.1.0.{i}") for i in range(20)]
    produce(settings, settings.topic_alerts, ((a.subject.encode(), dumps(a)) for a in before))
    published = PublishedAlerts(settings)
    reader = asyncio.ensure_future(published.run())
    try:
        await asyncio.wait_for(published.ready.wait(), 30)
        assert all(a.alert_key in published for a in before)
        assert "ip-failures:10.1.9.9:1" not in published
        late = alert("ip-failures:10.1.9.9:1", "10.1.9.9")  # another worker publishes now
        await asyncio.to_thread(produce, settings, settings.topic_alerts, [(b"10.1.9.9", dumps(late))])
        for _ in range(100):
            if late.alert_key in published:
                break
            await asyncio.sleep(0.1)
        assert late.alert_key in published
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)

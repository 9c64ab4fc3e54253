"""Alerting's email events go through its MongoDB outbox to ``email-events``, and none is lost.

On the real broker (the shared one, or the test's own where it is taken
away) and real FerretDB: the events reach the topic; with the broker gone
they wait in the outbox and arrive after it returns; and an alerting process
SIGKILLed between sending an email and publishing its events leaves them to
the next process, which publishes them.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from failstream.alerting.clock import system_clock
from failstream.alerting.dependencies import Held
from failstream.alerting.email_event_relay import OUTBOX, EmailEventRelay
from failstream.alerting.store import connect
from failstream.dependency import Dependency
from failstream.events import EmailEvent
from failstream.kafka_config import ensure_topics
from failstream.settings import Settings
from tests.integration.alerting.harness import Mongo, make_alert, produce_alerts, read_email_events
from tests.integration.services import ProcessGroup, SmtpSink, free_port, wait_until
from tests.integration.throwaway import ThrowawayBroker

pytestmark = pytest.mark.integration


async def _until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    """``wait_until`` for a test whose event loop runs the relay: the loop keeps running meanwhile."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        await asyncio.sleep(0.2)


def _of(events: list[EmailEvent], message_id: str) -> list[str]:
    return [e.status for e in events if e.message_id == message_id]


@pytest.fixture
def own_broker(alerting_settings: Settings, tmp_path: Path) -> Iterator[ThrowawayBroker]:
    broker = ThrowawayBroker(alerting_settings, tmp_path / "kafka")
    yield broker
    broker.kill()


async def test_events_of_each_transition_reach_the_topic_in_order_and_leave_the_outbox(
    alerting_settings: Settings, mongo: Mongo
) -> None:
    settings = alerting_settings
    client = connect(settings)
    relay = EmailEventRelay(
        settings, client[settings.mongo_db], "owner-1", Held(), Dependency("kafka"), system_clock
    )
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        for status, attempt in (("PENDING", 0), ("RETRYING", 1), ("SENT", 2)):
            await relay.publisher.publish("<m1@failstream>", ["a@x.com", "b@y.org"], status, attempt)
        await _until(lambda: relay.published == 6, 30, "six events published")
        events = await asyncio.to_thread(read_email_events, settings, 6)
        assert _of([e for e in events if e.recipient_domain == "x.com"], "<m1@failstream>") == [
            "queued",
            "retrying",
            "sent",
        ]
        assert sorted({e.recipient_domain for e in events}) == ["x.com", "y.org"]
        assert len({e.event_id for e in events}) == len(events) == 6
        assert mongo.db[OUTBOX].count_documents({}) == 0
    finally:
        stop.set()
        await task
        await client.close()


async def test_with_the_broker_gone_events_wait_in_the_outbox_and_arrive_after_it_returns(
    own_broker: ThrowawayBroker, mongo: Mongo
) -> None:
    await asyncio.to_thread(own_broker.start)
    settings = own_broker.settings
    client = connect(settings)
    kafka = Dependency(f"kafka-{uuid.uuid4().hex[:6]}")
    relay = EmailEventRelay(settings, client[settings.mongo_db], "owner-1", Held(), kafka, system_clock)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        await relay.publisher.publish("<before@failstream>", ["a@x.com"], "SENT", 1)
        await _until(lambda: relay.published == 1, 60, "the first event published")

        await asyncio.to_thread(own_broker.stop)
        for i in range(3):
            await relay.publisher.publish(f"<during-{i}@failstream>", ["a@x.com"], "SENT", 1)
        await _until(lambda: not kafka.up, 90, "the relay to find the broker gone")
        assert mongo.db[OUTBOX].count_documents({}) == 3 and relay.published == 1

        await asyncio.to_thread(own_broker.start)
        await _until(lambda: relay.published == 4, 60, "the held events published")
        assert mongo.db[OUTBOX].count_documents({}) == 0
        events = await asyncio.to_thread(read_email_events, settings, 4, 30)
        assert sorted(e.message_id for e in events) == [
            "<before@failstream>",
            "<during-0@failstream>",
            "<during-1@failstream>",
            "<during-2@failstream>",
        ]
    finally:
        stop.set()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await client.close()


def test_alerting_sigkilled_between_sending_and_publishing_leaves_the_events_to_the_next_process(
    own_broker: ThrowawayBroker, smtp_sink: SmtpSink, processes: ProcessGroup, mongo: Mongo
) -> None:
    own_broker.start()
    settings = own_broker.settings.model_copy(
        update={
            "metrics_alerting_port": free_port(),
            "group_wait_s": 15.0,  # the alert is read now, its email sent once the broker is gone
            "alerting_email_events_orphan_s": 3.0,
            "fence_lease_s": 10.0,
        }
    )
    ensure_topics(settings)
    processes.start("first", "alerting", settings)
    alert = make_alert("10.67.0.1")
    produce_alerts(settings, [alert])
    wait_until(lambda: mongo.alert(alert.alert_key) is not None, 60, "the alert claimed")
    own_broker.stop()
    assert smtp_sink.messages() == [], "sent before the broker was gone: the test proves nothing"

    wait_until(lambda: len(smtp_sink.messages()) == 1, 60, "the email, sent with the broker gone")
    wait_until(lambda: [e["status"] for e in mongo.emails()] == ["SENT"], 30, "the email logged SENT")
    outbox = mongo.db[OUTBOX]
    wait_until(lambda: outbox.count_documents({}) == 2, 30, "its queued and sent events in the outbox")
    processes.kill("first")

    own_broker.start()
    processes.start("second", "alerting", settings)
    [email] = mongo.emails()
    events = read_email_events(settings, expect_at_least=2, timeout_s=90)
    assert _of(events, email["_id"]) == ["queued", "sent"]
    wait_until(lambda: outbox.count_documents({}) == 0, 30, "the outbox emptied")
    assert "adopted for publishing" in processes.log("second")
    assert len(smtp_sink.messages()) == 1  # the alert itself was finished: not sent again

"""Shared by the alerting integration tests: alerts onto the real topic, a scriptable SMTP server."""

from __future__ import annotations

import mailbox
import threading
import time
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer
from pymongo import MongoClient

from failstream.events import Alert, EmailEvent, dumps, new_event_id, now_ms
from failstream.kafka_config import confluent_config
from failstream.settings import Settings


def make_alert(subject: str, *, episode: int = 1, **fields: Any) -> Alert:
    now = now_ms()
    values: dict[str, Any] = {
        "event_id": new_event_id(),
        "ts": now,
        "alert_key": f"ip-failures:{subject}:{episode}",
        "rule": "ip-failures",
        "subject": subject,
        "episode_start": now - 5_000,
        "count": 5,
        "threshold": 5,
        "window_s": 600,
        "first_seen": now - 5_000,
        "last_seen": now,
        "reasons": {"invalid_token": 5},
        "routes": {"/api/submit": 5},
    }
    values.update(fields)
    return Alert(**values)


def produce_alerts(settings: Settings, alerts: list[Alert]) -> None:
    producer = Producer(confluent_config(settings))
    for alert in alerts:
        producer.produce(settings.topic_alerts, key=alert.subject.encode(), value=dumps(alert))
    assert producer.flush(15) == 0, "alerts not delivered to Kafka"


def read_email_events(settings: Settings, expect_at_least: int, timeout_s: float = 15) -> list[EmailEvent]:
    consumer = Consumer(
        {
            **confluent_config(settings),
            "group.id": f"{settings.topic_email_events}-reader",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([settings.topic_email_events])
    events: list[EmailEvent] = []
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and len(events) < expect_at_least:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            events.append(EmailEvent.model_validate_json(msg.value()))  # type: ignore[arg-type]
    finally:
        consumer.close()
    return events


class Mongo:
    """Synchronous reads of the test's database, for assertions."""

    def __init__(self, settings: Settings) -> None:
        self._client: MongoClient[dict[str, Any]] = MongoClient(settings.mongo_uri.get_secret_value())
        self.db = self._client[settings.mongo_db]

    def alert(self, key: str) -> dict[str, Any] | None:
        return self.db.alerts.find_one({"_id": key})

    def emails(self) -> list[dict[str, Any]]:
        return list(self.db.emails.find().sort("created_at", 1))

    def close(self) -> None:
        self._client.drop_database(self.db.name)
        self._client.close()


class ScriptedSmtpHandler:
    """aiosmtpd handler that refuses recipients with a given reply until told to accept."""

    def __init__(self, maildir: Path, refuse_with: str | None = None) -> None:
        maildir.parent.mkdir(parents=True, exist_ok=True)
        self.box = mailbox.Maildir(maildir, create=True)
        self._lock = threading.Lock()
        self._refuse_with = refuse_with
        self.rcpt_attempts = 0

    def refuse(self, reply: str | None) -> None:
        with self._lock:
            self._refuse_with = reply

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        with self._lock:
            self.rcpt_attempts += 1
            reply = self._refuse_with
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.box.add(envelope.original_content or envelope.content)
        return "250 Message accepted for delivery"


class InProcessAlerting:
    """The real pipeline in the test's event loop, on real FerretDB and SMTP.

    For behaviour that needs no consumer (silences, limits, TLS, racing
    processes), this skips a process start while using the same stages.
    """

    def __init__(self, settings: Settings, owner: str) -> None:
        from failstream.alerting.clock import system_clock
        from failstream.alerting.pipeline import AlertPipeline, build_stages
        from failstream.alerting.store import connect

        self.client = connect(settings)
        self.db = self.client[settings.mongo_db]
        # email events wait in the outbox: these tests run no relay (test_email_event_relay does)
        self.stages = build_stages(settings, self.db, owner, system_clock)
        self.handled: list[int] = []
        self.pipeline = AlertPipeline(
            settings, self.stages, on_handled=lambda d: self.handled.append(d.offset)
        )
        self._offset = 0

    async def feed(self, alert: Alert) -> None:
        from failstream.alerting.delivery import AlertDelivery

        self._offset += 1
        delivery = AlertDelivery(alert, "alerts", 0, self._offset, alert.subject.encode(), dumps(alert))
        await self.pipeline.handle(delivery)

    async def close(self) -> None:
        if self.stages.receivers is not None:
            await self.stages.receivers.aclose()
        await self.client.close()

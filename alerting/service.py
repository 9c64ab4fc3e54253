"""The alerting process: consume ``alerts``, claim each alert key, email on-call, record.

Walking-skeleton version: fence -> render -> send -> record. Later stages
(silence, rate limit, group, retry) slot in between without changing this
outline.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from email.message import EmailMessage
from html import escape
from typing import Any

import aiosmtplib
from aiokafka import AIOKafkaConsumer
from pydantic import ValidationError
from pymongo import AsyncMongoClient
from pymongo.errors import DuplicateKeyError

from failstream.kafka_config import aiokafka_config
from failstream.settings import Settings
from producer.events import Alert, new_event_id

log = logging.getLogger("failstream.alerting")


def render(alert: Alert, settings: Settings) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = f"[Failstream] {alert.rule}: {alert.subject} had {alert.count} failures"
    msg["From"] = settings.smtp_from
    msg["To"] = ", ".join(settings.oncall_recipients)
    msg["Message-ID"] = f"<{new_event_id()}@failstream>"
    reasons = ", ".join(f"{r}={n}" for r, n in sorted(alert.reasons.items()))
    routes = ", ".join(f"{r} ({n})" for r, n in sorted(alert.routes.items(), key=lambda kv: -kv[1])[:5])
    window = f"{alert.count} failures (threshold {alert.threshold} in {alert.window_s}s)"
    msg.set_content(
        f"{alert.subject}: {window}\nReasons: {reasons}\nTop routes: {routes}\n"
        f"Dashboard: {settings.dashboard_url}\n"
    )
    msg.add_alternative(
        f"<p><b>{escape(alert.subject)}</b>: {escape(window)}</p><p>Reasons: {escape(reasons)}</p>"
        f'<p>Top routes: {escape(routes)}</p><p><a href="{escape(settings.dashboard_url)}">Dashboard</a></p>',
        subtype="html",
    )
    return msg


async def handle(alert: Alert, db: Any, settings: Settings) -> None:
    try:
        await db.alerts.insert_one({"_id": alert.alert_key, **alert.model_dump(), "status": "claimed"})
    except DuplicateKeyError:
        log.info("alert %s already handled", alert.alert_key)
        return
    msg = render(alert, settings)
    now = datetime.now(UTC)
    await db.emails.insert_one(
        {
            "_id": msg["Message-ID"],
            "alert_keys": [alert.alert_key],
            "status": "PENDING",
            "created_at": now,
            "attempts": 0,
            "recipients": list(settings.oncall_recipients),
        }
    )
    await aiosmtplib.send(
        msg, hostname=settings.smtp_host, port=settings.smtp_port, timeout=settings.smtp_timeout_s
    )
    await db.emails.update_one(
        {"_id": msg["Message-ID"]}, {"$set": {"status": "SENT", "sent_at": datetime.now(UTC), "attempts": 1}}
    )
    await db.alerts.update_one({"_id": alert.alert_key}, {"$set": {"status": "sent"}})


async def run(settings: Settings) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongo_uri.get_secret_value())
    db = client[settings.mongo_db]
    consumer = AIOKafkaConsumer(
        settings.topic_alerts,
        group_id="failstream-alerting",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **aiokafka_config(settings),
    )
    await consumer.start()
    try:
        async for record in consumer:
            try:
                alert = Alert.model_validate_json(record.value)
            except ValidationError as exc:
                log.warning("malformed alert skipped: %s", exc.errors()[:1])
            else:
                await handle(alert, db, settings)
            await consumer.commit()
    finally:
        await consumer.stop()


if __name__ == "__main__":
    asyncio.run(run(Settings()))

"""Re-drive: re-send the emails of dead-lettered alerts once the relay accepts them again.

Each failed email's dead letters are claimed with a lease first
(``redrive_owner``, ``redrive_lease_until``), so two operators running
``failstream alerts redrive`` at once do not both send. A re-sent email is a
new ``emails`` record with ``redrive_of`` pointing at the failed one; the
dead letters get ``redriven_at`` and the alerts become ``sent``.
"""

from __future__ import annotations

import base64
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from pydantic import ValidationError

from failstream.alerting.clock import Clock, Sleep
from failstream.alerting.exceptions import InvalidDeadLetterError
from failstream.alerting.lease import plan_for
from failstream.alerting.pipeline import Stages
from failstream.alerting.recipients import recipients_for
from failstream.alerting.render import render_email
from failstream.alerting.retry import RetryPolicy, send_with_retry
from failstream.alerting.smtp import SendFailure
from failstream.alerting.store import Database
from failstream.events import Alert
from failstream.settings import AlertingSettings

log = logging.getLogger("failstream.alerting")


@dataclass
class RedriveReport:
    sent: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def alert_of(letter: dict[str, Any]) -> Alert:
    try:
        return Alert.model_validate_json(base64.b64decode(letter["value_b64"]))
    except (KeyError, ValueError, ValidationError) as exc:
        raise InvalidDeadLetterError(f"dead letter {letter.get('_id')} holds no Alert: {exc}") from exc


async def _claim(db: Database, letter_id: str, owner: str, now: int, lease_ms: int) -> bool:
    claimed = await db.dead_letters.find_one_and_update(
        {
            "_id": letter_id,
            "redriven_at": None,
            "$or": [{"redrive_lease_until": None}, {"redrive_lease_until": {"$lt": now}}],
        },
        {"$set": {"redrive_owner": owner, "redrive_lease_until": now + lease_ms}},
    )
    return claimed is not None


async def redrive(
    settings: AlertingSettings, db: Database, stages: Stages, owner: str, clock: Clock, sleep: Sleep
) -> RedriveReport:
    report = RedriveReport()
    by_email: dict[str, list[dict[str, Any]]] = defaultdict(list)
    query = {"source_topic": settings.topic_alerts, "email_id": {"$ne": None}, "redriven_at": None}
    async for letter in db.dead_letters.find(query).sort("_id", 1):
        by_email[str(letter["email_id"])].append(letter)
    lease_ms = plan_for(settings).lease_ms  # outlasts the worst send, like an alert claim
    for failed_id, letters in by_email.items():
        claimed = [x for x in letters if await _claim(db, str(x["_id"]), owner, clock(), lease_ms)]
        if not claimed:
            report.skipped.append(failed_id)
            continue
        alerts = [alert_of(x) for x in claimed]
        failed_email = await db.emails.find_one({"_id": failed_id}) or {}
        recipients = list(failed_email.get("recipients") or recipients_for(alerts[0].severity, settings))
        rendered = render_email(
            alerts, recipients, sender=settings.smtp_from, dashboard_url=settings.dashboard_url
        )
        email_id = rendered.message_id
        keys = [a.alert_key for a in alerts]
        await stages.email_log.pending(
            email_id,
            kind=rendered.kind,
            subject=str(rendered.message["Subject"]),
            recipients=recipients,
            alert_keys=keys,
            redrive_of=failed_id,
        )

        async def before_retry(attempt: int, failure: SendFailure, email_id: str = email_id) -> bool:
            await stages.email_log.retrying(email_id, attempt, failure.reason)
            return True

        outcome = await send_with_retry(
            partial(stages.notifier.send, rendered.message, recipients),
            RetryPolicy.from_settings(settings),
            before_retry,
            sleep,
        )
        ids = [x["_id"] for x in claimed]
        if outcome.status == "sent":
            now = clock()
            await stages.email_log.sent(email_id, outcome.attempts, outcome.note)
            await db.dead_letters.update_many(
                {"_id": {"$in": ids}}, {"$set": {"redriven_at": now, "redriven_email_id": email_id}}
            )
            await db.alerts.update_many(
                {"_id": {"$in": keys}},
                {"$set": {"status": "sent", "email_id": email_id, "sent_at": now, "updated_at": now}},
            )
            report.sent.append(email_id)
        else:
            await stages.email_log.failed(email_id, outcome.attempts, outcome.error)
            await db.dead_letters.update_many(
                {"_id": {"$in": ids}}, {"$set": {"error": outcome.error, "redrive_lease_until": None}}
            )
            report.failed.append(email_id)
            log.error("re-drive of %s failed: %s", failed_id, outcome.error)
    return report

"""The email log: one ``emails`` document per email, PENDING -> RETRYING -> SENT | FAILED.

Each transition is appended to ``history`` (status, time, attempt, error)
so the log shows how an email got where it is. Its EmailEvents are written
to the outbox first (``alerting.email_events``): a crash between the two
leaves an event whose record the re-done email writes, never a record
without its event. Only ``$set`` and a plain ``$push`` are used (FerretDB 1.24).

An alert email's id is its Message-ID, the same for the same alerts: a
second PENDING for an id already logged is a re-send (after a take-over, or
an insert whose reply an outage lost) and is appended to that email's history.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from failstream.alerting import metrics
from failstream.alerting.clock import Clock
from failstream.alerting.email_events import EmailEventPublisher


class EmailLog:
    def __init__(
        self, emails: AsyncCollection[dict[str, Any]], events: EmailEventPublisher, clock: Clock
    ) -> None:
        self._emails = emails
        self._events = events
        self._clock = clock
        self._recipients: dict[str, list[str]] = {}

    async def pending(
        self,
        message_id: str,
        *,
        kind: str,
        subject: str,
        recipients: Sequence[str],
        alert_keys: Sequence[str],
        **extra: Any,
    ) -> None:
        now = self._clock()
        self._recipients[message_id] = list(recipients)
        # the event first: a crash before the record re-does the email, and no event is lost
        await self._events.publish(message_id, recipients, "PENDING", 0)
        try:
            await self._insert_pending(message_id, now, kind, subject, recipients, alert_keys, extra)
        except DuplicateKeyError:
            await self._emails.update_one(
                {"_id": message_id},
                {
                    "$set": {"status": "PENDING", "updated_at": now},
                    "$push": {"history": {"status": "PENDING", "at": now, "attempt": 0, "error": "re-send"}},
                },
            )
        self._events.recorded(message_id, "PENDING", 0)
        metrics.EMAILS.labels("PENDING").inc()

    async def _insert_pending(
        self,
        message_id: str,
        now: int,
        kind: str,
        subject: str,
        recipients: Sequence[str],
        alert_keys: Sequence[str],
        extra: dict[str, Any],
    ) -> None:
        await self._emails.insert_one(
            {
                "_id": message_id,
                "kind": kind,
                "status": "PENDING",
                "subject": subject,
                "recipients": list(recipients),
                "alert_keys": list(alert_keys),
                "attempts": 0,
                "last_error": "",
                "created_at": now,
                "updated_at": now,
                "sent_at": None,
                "history": [{"status": "PENDING", "at": now, "attempt": 0, "error": ""}],
                **extra,
            }
        )

    async def _transition(
        self, message_id: str, status: str, attempts: int, error: str, **fields: Any
    ) -> None:
        now = self._clock()
        recipients = self._recipients.get(message_id, [])
        await self._events.publish(message_id, recipients, status, attempts, error)  # before the record
        update: dict[str, Any] = {"status": status, "attempts": attempts, "updated_at": now, **fields}
        if error:
            update["last_error"] = error
        await self._emails.update_one(
            {"_id": message_id},
            {
                "$set": update,
                "$push": {"history": {"status": status, "at": now, "attempt": attempts, "error": error}},
            },
        )
        self._events.recorded(message_id, status, attempts, error)
        metrics.EMAILS.labels(status).inc()
        if status in ("SENT", "FAILED"):
            self._recipients.pop(message_id, None)

    async def retrying(self, message_id: str, attempts: int, error: str) -> None:
        await self._transition(message_id, "RETRYING", attempts, error)

    async def sent(self, message_id: str, attempts: int, note: str = "") -> None:
        extra = {"refused_recipients": note} if note else {}
        await self._transition(message_id, "SENT", attempts, "", sent_at=self._clock(), **extra)

    async def failed(self, message_id: str, attempts: int, error: str) -> None:
        await self._transition(message_id, "FAILED", attempts, error)

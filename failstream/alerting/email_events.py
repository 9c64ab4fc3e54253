"""Every email transition also goes to ``email-events``: the email pipeline watches its own alerts.

Keyed by recipient domain, like any host service's email events, so the
stream app's email-delivery rule sees a failing relay for on-call too.

An event is not sent to Kafka here: it is written to the MongoDB outbox
(``email_event_outbox``, ``_id`` = event id) *before* the email log record
it describes, and ``EmailEventRelay`` publishes it. So a broker outage or a
crash of this process never loses one; what a crash leaves in the outbox is
published by the next relay (``docs/alert-delivery.md``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

from failstream.alerting.recipients import recipient_domains
from failstream.events import EmailEvent, dumps, new_event_id, now_ms

SERVICE = "failstream-alerting"
#: emails.status -> EmailEvent.status
EVENT_STATUS = {"PENDING": "queued", "RETRYING": "retrying", "SENT": "sent", "FAILED": "failed"}
#: MongoDB's duplicate key error: the document is there already
DUPLICATE_KEY = 11000

Transition = tuple[str, str, int, str]


def email_events(
    message_id: str, recipients: Sequence[str], status: str, attempt: int, error: str, ts: int
) -> list[EmailEvent]:
    """One event per recipient domain of one email transition."""
    return [
        EmailEvent(
            event_id=new_event_id(),
            ts=ts,
            service=SERVICE,
            message_id=message_id,
            recipient_domain=domain,
            status=EVENT_STATUS[status],  # type: ignore[arg-type]  # the model validates it
            attempt=attempt,
            error=error[:2000],
        )
        for domain in recipient_domains(recipients)
    ]


def outbox_doc(event: EmailEvent, owner: str) -> dict[str, Any]:
    """What the relay publishes, ready to send: the key and the value's bytes."""
    return {
        "_id": event.event_id,
        "owner": owner,
        "at": event.ts,
        "key": event.recipient_domain,
        "value": dumps(event),
    }


class EmailEventPublisher:
    """Writes the events of an email transition to the outbox of this process's relay."""

    def __init__(
        self,
        outbox: AsyncCollection[dict[str, Any]],
        owner: str,
        on_written: Callable[[], None] = lambda: None,
    ) -> None:
        self._outbox = outbox
        self._owner = owner
        self._on_written = on_written
        # events of transitions not yet recorded: the caller's retry after an outage (of the
        # event's write or the record's) writes the same ids again, which the outbox refuses
        self._unwritten: dict[Transition, list[dict[str, Any]]] = {}

    async def publish(
        self, message_id: str, recipients: Sequence[str], status: str, attempt: int, error: str = ""
    ) -> None:
        """Write one event per recipient domain; MongoDB errors propagate, for the caller's ``Held``."""
        transition = (message_id, status, attempt, error)
        docs = self._unwritten.get(transition)
        if docs is None:
            events = email_events(message_id, recipients, status, attempt, error, now_ms())
            docs = [outbox_doc(e, self._owner) for e in events]
            self._unwritten[transition] = docs
        if docs:
            try:
                await self._outbox.insert_many(docs, ordered=False)
            except BulkWriteError as exc:
                # written before, by a try whose answer an outage lost: the same ids, so no second copy
                if any(e.get("code") != DUPLICATE_KEY for e in exc.details.get("writeErrors", [])):
                    raise
        self._on_written()

    def recorded(self, message_id: str, status: str, attempt: int, error: str = "") -> None:
        """The transition's log record is written: a later identical transition is a new event."""
        self._unwritten.pop((message_id, status, attempt, error), None)

"""``report_email_event``: host services publish their email deliveries.

Events go to ``email-events`` keyed by recipient domain, through the same
sink (and so the same spool) as the middlewares, so a failing relay for one
domain lands on one stream worker. Input comes from the host, so it is
validated against the wire contract here, not downstream.

    report_email_event(settings, service="shop", message_id=mid, recipient="a@example.com", status="sent")
    await report_email_event_async(settings, ...)   # same, for async code
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from failstream.events import EmailEvent, dumps, new_event_id, now_ms
from failstream.producer import metrics
from failstream.producer.capture_queue import capture_queue
from failstream.producer.shared import shared_sink

if TYPE_CHECKING:
    from failstream.producer.sink import KafkaSink
    from failstream.settings import Settings


def recipient_domain_of(recipient: str) -> str:
    """``"Ann <ann@Example.COM>"`` -> ``"example.com"``."""
    address = recipient.strip()
    if "<" in address and address.endswith(">"):
        address = address[address.rindex("<") + 1 : -1]
    _, at, domain = address.rpartition("@")
    if not at or not domain:
        raise ValueError(f"recipient {recipient!r} has no domain")
    return domain.strip().lower()


def report_email_event(
    settings: Settings,
    *,
    service: str,
    message_id: str,
    status: str,
    recipient: str | None = None,
    recipient_domain: str | None = None,
    attempt: int = 1,
    error: str = "",
    sink: KafkaSink | None = None,
) -> EmailEvent:
    """Queue one EmailEvent; never waits on Kafka. Returns the event (its ``event_id``).

    By default it goes through the capture queue to the shared sink, like the
    middlewares' events; with ``sink=`` it is handed to that sink right here.
    """
    if recipient_domain is None:
        if recipient is None:
            raise ValueError("report_email_event needs recipient= or recipient_domain=")
        recipient_domain = recipient_domain_of(recipient)
    event = EmailEvent(
        event_id=new_event_id(),
        ts=now_ms(),
        service=service,
        message_id=message_id,
        recipient_domain=recipient_domain.lower(),
        status=status,  # type: ignore[arg-type]  # validated by the model
        attempt=attempt,
        error=error[:2000],
    )
    topic, key, value = settings.topic_email_events, event.recipient_domain, dumps(event)
    if sink is None:
        capture_queue().put((_send_shared, settings, topic, key, value))  # one Kafka client per host
    else:
        sink.send(topic, key, value)
    metrics.EMAIL_EVENTS.inc()
    return event


def _send_shared(entry: tuple[Any, ...]) -> None:
    """On the capture thread: the event to the shared sink of its settings."""
    _, settings, topic, key, value = entry
    shared_sink(settings).send(topic, key, value)


async def report_email_event_async(
    settings: Settings,
    *,
    service: str,
    message_id: str,
    status: str,
    recipient: str | None = None,
    recipient_domain: str | None = None,
    attempt: int = 1,
    error: str = "",
    sink: KafkaSink | None = None,
) -> EmailEvent:
    """The same for async code: queuing never blocks, so no thread hop is needed."""
    return report_email_event(
        settings,
        service=service,
        message_id=message_id,
        status=status,
        recipient=recipient,
        recipient_domain=recipient_domain,
        attempt=attempt,
        error=error,
        sink=sink,
    )

"""``report_email_event``: host services publish their email deliveries.

Events go to ``email-events`` keyed by recipient domain, through the same
sink (and so the same spool) as the middlewares, so a failing relay for one
domain lands on one stream worker. Input comes from the host, so it is
validated against the wire contract here, not downstream.

    report_email_event(settings, service="shop", message_id=mid, recipient="a@example.com", status="sent")
    await report_email_event_async(settings, ...)   # same, for async code

``before_send=`` is the middlewares' hook, with their semantics: it gets the
event as the dict that is serialised and returns it, changed or not, or None
to drop it (counted); a hook that raises drops the event, is counted every
time and logged once. It runs where the event is handed to the sink: on the
capture thread, or with ``sink=`` on the calling thread.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from failstream.events import EmailEvent, dumps, new_event_id, now_ms
from failstream.producer import metrics
from failstream.producer.capture_queue import capture_queue
from failstream.producer.shared import shared_sink

if TYPE_CHECKING:
    from failstream.producer.capture import BeforeSend
    from failstream.producer.sink import KafkaSink
    from failstream.settings import CaptureSettings

log = logging.getLogger("failstream.producer")

#: hooks whose first error was logged (by name: a bound method is a new object at every access)
_failed_hooks: set[str] = set()


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
    settings: CaptureSettings,
    *,
    service: str,
    message_id: str,
    status: str,
    recipient: str | None = None,
    recipient_domain: str | None = None,
    attempt: int = 1,
    error: str = "",
    sink: KafkaSink | None = None,
    before_send: BeforeSend | None = None,
) -> EmailEvent:
    """Queue one EmailEvent; never waits on Kafka. Returns the event as built (its ``event_id``).

    By default it goes through the capture queue to the shared sink, like the
    middlewares' events; with ``sink=`` it is handed to that sink right here.
    ``before_send`` may scrub or drop it there (see the module docstring); the
    event returned is the one before the hook, which may not even have run yet.
    """
    if before_send is not None and not callable(before_send):
        raise TypeError(f"before_send must be callable, not {type(before_send).__name__}")
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
    topic = settings.topic_email_events
    if sink is None:  # one Kafka client per host
        if before_send is None:
            capture_queue().put((_send_shared, settings, topic, event.recipient_domain, dumps(event)))
        else:
            capture_queue().put((_scrub_and_send_shared, settings, topic, event, before_send))
    elif before_send is None:
        sink.send(topic, event.recipient_domain, dumps(event))
    else:
        _scrub_and_send(sink, topic, event, before_send)
    metrics.EMAIL_EVENTS.inc()
    return event


def _send_shared(entry: tuple[Any, ...]) -> None:
    """On the capture thread: the event to the shared sink of its settings."""
    _, settings, topic, key, value = entry
    shared_sink(settings).send(topic, key, value)


def _scrub_and_send_shared(entry: tuple[Any, ...]) -> None:
    """On the capture thread: the event through the host's hook, then to the shared sink."""
    _, settings, topic, event, before_send = entry
    _scrub_and_send(shared_sink(settings), topic, event, before_send)


def _scrub_and_send(sink: KafkaSink, topic: str, event: EmailEvent, before_send: BeforeSend) -> None:
    """Send what the hook returned, keyed by its ``recipient_domain``; nothing if it dropped or raised.

    As for failures (``FailureRecorder._scrubbed``): a hook that raises drops
    the event, which may still hold what the hook was there to remove.
    """
    from failstream.producer.capture import hook_record  # on the capture thread, not at import

    try:
        record = hook_record(before_send, event.model_dump(), "recipient_domain")
        if record is None:
            _discard("before_send", event)
            return
    except Exception:
        _discard("before_send_error", event)
        qualname = getattr(before_send, "__qualname__", type(before_send).__qualname__)
        name = f"{getattr(before_send, '__module__', '')}.{qualname}"
        if name not in _failed_hooks:
            _failed_hooks.add(name)
            log.exception(
                "before_send raised on an email event: the event is dropped; later errors of the hook "
                'are only counted (failstream_producer_discarded_events{cause="before_send_error"})'
            )
        return
    sink.send(topic, *record)


def _discard(cause: str, event: EmailEvent) -> None:
    counts, key = metrics.email_counts(event.service).discarded, (cause, event.status)
    counts[key] = counts.get(key, 0) + 1


async def report_email_event_async(
    settings: CaptureSettings,
    *,
    service: str,
    message_id: str,
    status: str,
    recipient: str | None = None,
    recipient_domain: str | None = None,
    attempt: int = 1,
    error: str = "",
    sink: KafkaSink | None = None,
    before_send: BeforeSend | None = None,
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
        before_send=before_send,
    )

"""Every email transition also goes to ``email-events``: the email pipeline watches its own alerts.

Published with the producer's ``report_email_event`` (keyed by recipient
domain, like any host service's email events), so the stream app's
email-delivery rule sees a failing relay for on-call too.
"""

from __future__ import annotations

from collections.abc import Sequence

from failstream.alerting.recipients import recipient_domains
from failstream.producer.email_events import report_email_event
from failstream.producer.sink import KafkaSink
from failstream.settings import Settings

SERVICE = "failstream-alerting"
#: emails.status -> EmailEvent.status
EVENT_STATUS = {"PENDING": "queued", "RETRYING": "retrying", "SENT": "sent", "FAILED": "failed"}


class EmailEventPublisher:
    def __init__(self, settings: Settings, sink: KafkaSink) -> None:
        self._settings = settings
        self._sink = sink

    def publish(
        self, message_id: str, recipients: Sequence[str], status: str, attempt: int, error: str = ""
    ) -> None:
        """Queue one event per recipient domain; never blocks and never raises (KafkaSink)."""
        for domain in recipient_domains(recipients):
            report_email_event(
                self._settings,
                service=SERVICE,
                message_id=message_id,
                status=EVENT_STATUS[status],
                recipient_domain=domain,
                attempt=attempt,
                error=error,
                sink=self._sink,
            )

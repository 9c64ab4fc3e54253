"""Email delivery events: a failing recipient domain alerts, and the minute counts add up."""

from __future__ import annotations

from typing import Any

import pytest

from failstream.events import EmailEvent, dumps, new_event_id, now_ms
from failstream.settings import Settings
from tests.integration.services import ProcessGroup, wait_until
from tests.integration.stream_app.checks import alerts_on_topic
from tests.integration.stream_app.kafka_io import produce

pytestmark = pytest.mark.integration


def test_a_domain_bouncing_most_mail_alerts_once_and_every_email_event_is_counted(
    settings: Settings, processes: ProcessGroup, db: Any
) -> None:
    settings = settings.model_copy(update={"rule_email_min_volume": 10, "rule_email_failure_ratio": 0.5})
    ts = now_ms()
    statuses = ["queued", "sent", "bounced", "failed", "bounced"] * 6  # 30 events, 18 outcomes, 2/3 failing
    events = [
        EmailEvent(
            event_id=new_event_id(),
            ts=ts + i,
            service="shop",
            message_id=f"<{i}@shop>",
            recipient_domain="bad.example",
            status=status,  # type: ignore[arg-type]
        )
        for i, status in enumerate(statuses)
    ]
    processes.start("stream", "stream", settings)
    produce(settings, settings.topic_email_events, ((b"bad.example", dumps(e)) for e in events))

    def email_total() -> int:
        return sum(d.get("total", 0) for d in db.minute_counts.find({"source": "emails"}))

    wait_until(lambda: email_total() == 30, 60, "30 email events counted")
    wait_until(lambda: len(alerts_on_topic(settings)) >= 1, 30, "an email-delivery alert")
    [alert] = alerts_on_topic(settings)
    assert (alert.rule, alert.subject, alert.state) == ("email-delivery", "bad.example", "firing")
    assert alert.ratio is not None and alert.ratio >= 0.5
    by_status: dict[str, int] = {}
    for doc in db.minute_counts.find({"source": "emails"}):
        for status, n in doc["emails"].items():
            by_status[status] = by_status.get(status, 0) + n
    assert by_status == {"queued": 6, "sent": 6, "bounced": 12, "failed": 6}

"""Email delivery events: a failing domain alerts, the minute counts add up, a copy counts once."""

from __future__ import annotations

import signal
from typing import Any

import pytest

from failstream.events import EmailEvent, dumps, new_event_id, now_ms
from failstream.settings import Settings
from tests.integration.services import ProcessGroup, wait_until
from tests.integration.stream_app.checks import alerts_on_topic
from tests.integration.stream_app.kafka_io import produce, read_all
from tests.integration.stream_app.test_address_rotation import committed_to_the_end

pytestmark = pytest.mark.integration


def _email_event(ts: int, i: int, status: str, domain: str) -> EmailEvent:
    """The ``i``-th delivery outcome of the shop's mail to ``domain``, a fresh event id each."""
    return EmailEvent(
        event_id=new_event_id(),
        ts=ts,
        service="shop",
        message_id=f"<{i}@shop>",
        recipient_domain=domain,
        status=status,  # type: ignore[arg-type]
    )


def test_a_domain_bouncing_most_mail_alerts_once_and_every_email_event_is_counted(
    settings: Settings, processes: ProcessGroup, db: Any
) -> None:
    settings = settings.model_copy(update={"rule_email_min_volume": 10, "rule_email_failure_ratio": 0.5})
    ts = now_ms()
    statuses = ["queued", "sent", "bounced", "failed", "bounced"] * 6  # 30 events, 18 outcomes, 2/3 failing
    events = [_email_event(ts + i, i, status, "bad.example") for i, status in enumerate(statuses)]
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


def _email_totals(db: Any) -> dict[str, int]:
    totals: dict[str, int] = {}
    for doc in db.minute_counts.find({"source": "emails"}):
        totals["total"] = totals.get("total", 0) + doc.get("total", 0)
        for status, n in doc.get("emails", {}).items():
            totals[status] = totals.get(status, 0) + n
    return totals


@pytest.mark.parametrize("restart", [False, True], ids=["same-worker", "after-a-restart"])
def test_an_email_event_published_twice_counts_once_in_its_domains_ratio_and_its_minute_counts(
    settings: Settings, processes: ProcessGroup, db: Any, restart: bool
) -> None:
    settings = settings.model_copy(update={"rule_email_min_volume": 10, "rule_email_failure_ratio": 0.5})
    minute = now_ms() // 60_000 * 60_000  # one minute: one minute document to read

    def event(i: int, status: str) -> EmailEvent:
        return _email_event(minute + i, i, status, "twice.example")

    # nine outcomes, six failing: a tenth outcome makes the minimum volume, and a
    # copy of a failed one counted as the tenth would fire at 7 of 10
    nine = [event(i, status) for i, status in enumerate(["failed", "sent", "failed"] * 3)]
    key, topic = b"twice.example", settings.topic_email_events
    processes.start("stream", "stream", settings)
    produce(settings, topic, ((key, dumps(e)) for e in nine))
    wait_until(lambda: _email_totals(db).get("total") == 9, 60, "the nine email events counted")
    if restart:
        # committed, so the new worker reads none of the nine again: it knows their ids
        # only from the detection state it restores from the changelog
        wait_until(
            lambda: committed_to_the_end(settings, topic, settings.stream_app_id), 60, "the nine committed"
        )
        processes.kill("stream", signal.SIGTERM)
        processes.start("stream-restarted", "stream", settings)

    copy, tenth = nine[0], event(50, "sent")
    produce(settings, topic, [(key, dumps(copy)), (key, dumps(tenth))])  # the copy sits at a new offset
    assert len([v for _, v in read_all(settings, topic) if copy.event_id.encode() in v]) == 2
    wait_until(lambda: _email_totals(db).get("sent") == 4, 90, "the event after the copy counted")
    assert _email_totals(db) == {"total": 10, "failed": 6, "sent": 4}
    assert db.email_event_ids.count_documents({}) == 10

    wait_until(lambda: len(alerts_on_topic(settings)) >= 1, 90, "the domain's alert")
    [alert] = alerts_on_topic(settings)
    assert (alert.subject, alert.state, alert.count, alert.ratio) == ("twice.example", "firing", 6, 0.6)

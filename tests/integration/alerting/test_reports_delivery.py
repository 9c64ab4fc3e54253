"""One report through the real stages in the test's event loop: fence take-over, retries, email log.

Real FerretDB, Kafka (email events) and aiosmtpd; the clock and the retry
sleep are injected so no real hour or backoff has to pass.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from failstream.alerting.clock import system_clock
from failstream.alerting.dependencies import Held
from failstream.alerting.email_event_relay import EmailEventRelay, relaying
from failstream.alerting.reports.schedule import period_ending
from failstream.alerting.reports.scheduler import ReportScheduler, first_seen
from failstream.alerting.reports.sender import ReportSender, build_report_sender
from failstream.alerting.store import connect
from failstream.dependency import Dependency
from failstream.settings import ReportSchedule, Settings
from tests.integration.alerting.harness import Mongo, ScriptedSmtpHandler, read_email_events
from tests.integration.alerting.test_reports import HOUR, HOURLY, T1
from tests.integration.services import SmtpSink

pytestmark = pytest.mark.integration


class Stages:
    """A report sender (and its handles) owned by ``owner``, on a clock the test moves."""

    def __init__(self, settings: Settings, owner: str, now: int) -> None:
        self.now = now
        self.client = connect(settings)
        self.db = self.client[settings.mongo_db]
        self.sleeps: list[float] = []
        # the email events wait in the outbox unless a test runs the relay (``relaying``)
        self.relay = EmailEventRelay(settings, self.db, owner, Held(), Dependency("kafka"), system_clock)
        self.sender: ReportSender = build_report_sender(
            settings, self.db, self.relay.publisher, owner, lambda: self.now, self._sleep
        )
        self.on_sleep: Any = None

    async def _sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if self.on_sleep is not None:
            self.on_sleep()

    async def close(self) -> None:
        await self.client.close()


@pytest.fixture
def report_settings(alerting_settings: Settings) -> Settings:
    return alerting_settings.model_copy(update={"report_schedules": (HOURLY,)})


async def test_a_period_claimed_by_a_dead_process_is_taken_over_and_sent_once(
    report_settings: Settings, smtp_sink: SmtpSink, mongo: Mongo
) -> None:
    key = f"hourly:{T1 - HOUR}"
    now = T1 + 30_000
    mongo.db.report_schedules.insert_one({"_id": "hourly", "first_seen": T1 - 60_000})
    mongo.db.reports.insert_one(
        {
            "_id": key,
            "schedule": "hourly",
            "manual": False,
            "status": "claimed",
            "owner": "dead",
            "lease_until": now - 1,
        }
    )
    first, second = Stages(report_settings, "first", now), Stages(report_settings, "second", now)
    try:
        for stages in (first, second):
            scheduler = ReportScheduler(report_settings, stages.db, stages.sender, lambda: now)
            await scheduler.start()
            await scheduler.tick()
    finally:
        await first.close()
        await second.close()

    [message] = smtp_sink.messages()
    report = mongo.db.reports.find_one({"_id": key})
    assert report is not None
    assert (report["status"], report["owner"], report["takeovers"]) == ("sent", "first", 1)
    assert report["email_id"] == message["Message-ID"]


async def test_a_refused_report_is_retried_logged_and_published_like_an_alert_email(
    report_settings: Settings, tmp_path: Path, mongo: Mongo
) -> None:
    handler = ScriptedSmtpHandler(tmp_path / "retry-maildir", refuse_with="451 4.3.0 try again later")
    sink = SmtpSink(tmp_path / "retry-maildir", handler)
    sink.start()
    settings = report_settings.model_copy(update={"smtp_port": sink.port})
    stages = Stages(settings, "retrier", T1 + 1_000)
    stages.on_sleep = lambda: handler.refuse(None)  # the relay recovers during the backoff
    try:
        async with relaying(stages.relay):
            outcome = await stages.sender.send(HOURLY, period_ending(HOURLY, T1, "UTC"))
    finally:
        await stages.close()
        sink.stop()

    assert outcome.status == "sent" and len(stages.sleeps) == 1
    assert len(sink.messages()) == 1
    [email] = mongo.db.emails.find({"kind": "report"})
    assert [h["status"] for h in email["history"]] == ["PENDING", "RETRYING", "SENT"]
    assert email["attempts"] == 2 and email["report_key"] == f"hourly:{T1 - HOUR}"
    events = [e for e in read_email_events(settings, 3) if e.message_id == outcome.email_id]
    assert [e.status for e in events] == ["queued", "retrying", "sent"]
    assert {e.recipient_domain for e in events} == {"example.com"}


def test_send_now_sends_an_extra_report_that_does_not_count_as_the_scheduled_one(
    report_settings: Settings, smtp_sink: SmtpSink, mongo: Mongo
) -> None:
    env = {**os.environ, **report_settings.as_env()}
    command = [sys.executable, "-m", "failstream.cli", "reports", "send-now"]
    done = subprocess.run([*command, "hourly"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    [message] = smtp_sink.messages()
    [report] = mongo.db.reports.find()
    assert report["manual"] is True and report["status"] == "sent" and ":manual:" in report["_id"]
    assert report["email_id"] == message["Message-ID"] and report["end"] % 60_000 == 0
    assert mongo.db.emails.find_one({"_id": report["email_id"]}, {"kind": 1})["kind"] == "report"  # type: ignore[index]

    unknown = subprocess.run([*command, "nope"], env=env, capture_output=True, text=True, timeout=60)
    assert unknown.returncode == 2 and "no schedule named 'nope' (known: hourly)" in unknown.stderr


async def test_missed_periods_are_sent_oldest_first_up_to_the_catch_up_limit_and_older_ones_logged(
    report_settings: Settings, smtp_sink: SmtpSink, mongo: Mongo, caplog: pytest.LogCaptureFixture
) -> None:
    settings = report_settings.model_copy(update={"report_catchup_periods": 2})
    now = T1 + 5 * 60_000  # due times T1 - 2h, T1 - 1h and T1 all passed while nothing ran
    mongo.db.report_schedules.insert_one({"_id": "hourly", "first_seen": T1 - 2 * HOUR - 60_000})
    stages = Stages(settings, "back", now)
    try:
        scheduler = ReportScheduler(settings, stages.db, stages.sender, lambda: now)
        await scheduler.start()
        await scheduler.tick()
    finally:
        await stages.close()

    sent = sorted(r["end"] for r in mongo.db.reports.find({"status": "sent"}))
    assert sent == [T1 - HOUR, T1]
    assert all("LATE" in m["Subject"] for m in smtp_sink.messages()) and len(smtp_sink.messages()) == 2
    assert f"periods due at or before {T1 - 2 * HOUR} were missed and are not sent" in caplog.text


async def test_an_edited_schedule_owes_no_backlog_for_days_reported_under_its_old_definition(
    report_settings: Settings, mongo: Mongo
) -> None:
    day = 24 * HOUR
    at_8 = ReportSchedule(name="daily", at="08:00", period="day")
    at_9 = ReportSchedule(name="daily", at="09:00", period="day")
    client = connect(report_settings)
    db = client[report_settings.mongo_db]
    try:
        assert await first_seen(db, at_8, T1 - 30 * day) == T1 - 30 * day
        assert await first_seen(db, at_8, T1) == T1 - 30 * day  # unchanged: its history counts
        assert await first_seen(db, at_9, T1) == T1  # edited: a new schedule from now on
        assert await first_seen(db, at_9, T1 + day) == T1
    finally:
        await client.close()

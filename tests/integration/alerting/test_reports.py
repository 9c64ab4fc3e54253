"""Scheduled reports end to end: real alerting processes, FerretDB and an aiosmtpd server.

The processes' report clock is the test hook ``alerting_test_clock_start_ms``:
each process starts its clock a few seconds before (or some minutes after)
a chosen due time and lets it run at real speed.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from failstream.settings import ReportSchedule, Settings
from tests.integration.alerting.harness import Mongo
from tests.integration.alerting.report_seed import expected_figures, seed_period
from tests.integration.services import ProcessGroup, SmtpSink, wait_until

pytestmark = pytest.mark.integration

HOUR = 3_600_000
#: due times of the hourly schedule under test (a future date no real data has)
T1 = int(datetime(2031, 1, 1, 10, 0, tzinfo=UTC).timestamp() * 1000)
T2 = T1 + HOUR
HOURLY = ReportSchedule(name="hourly", cron="0 * * * *", period="hour", recipients=("oncall@example.com",))


def report_settings(base: Settings, clock_start_ms: int) -> Settings:
    return base.model_copy(
        update={"report_schedules": (HOURLY,), "alerting_test_clock_start_ms": clock_start_ms}
    )


def test_two_processes_and_a_restart_across_a_due_time_send_one_report_per_period_with_mongodb_figures(
    alerting_settings: Settings, smtp_sink: SmtpSink, processes: ProcessGroup, mongo: Mongo
) -> None:
    for start, scale in ((T1 - 2 * HOUR, 1), (T1 - HOUR, 2), (T1, 3)):
        seed_period(mongo.db, start, scale)

    # two processes running as the first due time passes
    before_t1 = report_settings(alerting_settings, T1 - 15_000)
    processes.start("a", "alerting", before_t1)
    processes.start("b", "alerting", before_t1)
    wait_until(lambda: len(smtp_sink.messages()) >= 1, 60, "the first period's report")
    time.sleep(6)  # the loser looks again every 2 s; a duplicate would be here by now
    assert len(smtp_sink.messages()) == 1

    # both down across the second due time; they come back 10 minutes after it
    processes.kill("a")
    processes.kill("b")
    after_t2 = report_settings(alerting_settings, T2 + 600_000)
    processes.start("a", "alerting", after_t2)
    processes.start("b", "alerting", after_t2)
    wait_until(lambda: len(smtp_sink.messages()) >= 2, 60, "the missed period's late report")
    time.sleep(6)
    messages = smtp_sink.messages()
    assert len(messages) == 2, [m["Subject"] for m in messages]  # the first period is not sent again

    first, second = messages
    assert "LATE" not in first["Subject"] and "LATE" in second["Subject"]
    reports = {r["_id"]: r for r in mongo.db.reports.find({"manual": False})}
    assert set(reports) == {f"hourly:{T1 - HOUR}", f"hourly:{T2 - HOUR}"}
    on_time, late = reports[f"hourly:{T1 - HOUR}"], reports[f"hourly:{T2 - HOUR}"]
    assert on_time["status"] == late["status"] == "sent"
    assert on_time["email_id"] == first["Message-ID"] and late["email_id"] == second["Message-ID"]
    assert on_time["late_by_s"] == 0 and late["late_by_s"] >= 600

    for report, message in ((on_time, first), (late, second)):
        expected = expected_figures(mongo.db, report["start"], report["end"], alerting_settings.report_top_n)
        assert report["figures"] == expected
        text = message.get_body(("plain",))
        assert text is not None
        body = str(text.get_content())
        assert f"{expected['failures']} failures" in message["Subject"]
        for row in expected["top_ips"]:
            assert f"{row['n']:>8}  {row['label']}" in body
        assert alerting_settings.dashboard_url in body
    # the second period holds 2 seeded SENT emails and the first report's own, sent at its due time
    assert late["figures"]["emails_sent"] == 3

    logged = {e["_id"]: e for e in mongo.db.emails.find({"kind": "report"})}
    assert set(logged) == {first["Message-ID"], second["Message-ID"]}
    assert all(e["status"] == "SENT" and e["report_key"] in reports for e in logged.values())

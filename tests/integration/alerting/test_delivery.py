"""Delivery under failure: relay outages, permanent refusals, digests and crashes.

Each test runs the real ``failstream alerting`` process against the real
Kafka broker, FerretDB and an aiosmtpd server on loopback, and produces
Alert messages onto the test's own alerts topic.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from failstream.settings import Settings
from tests.integration.alerting.harness import (
    Mongo,
    ScriptedSmtpHandler,
    make_alert,
    produce_alerts,
    read_email_events,
)
from tests.integration.services import ProcessGroup, SmtpSink, wait_until

pytestmark = pytest.mark.integration


def _statuses(email: dict) -> list[str]:
    return [step["status"] for step in email["history"]]


def test_smtp_down_20s_while_3_alerts_arrive_each_is_delivered_once_after_retrying(
    alerting_settings: Settings, smtp_sink: SmtpSink, processes: ProcessGroup, mongo: Mongo
) -> None:
    smtp_sink.stop()  # nothing listens on the port: connection refused
    settings = alerting_settings.model_copy(
        update={"send_attempts": 15, "smtp_retry_base_s": 1.0, "smtp_retry_max_s": 4.0, "fence_lease_s": 10.0}
    )
    alerts = [make_alert(f"127.0.1.{i}") for i in range(1, 4)]
    processes.start("alerting", "alerting", settings)
    produce_alerts(settings, alerts)
    down_since = time.monotonic()

    wait_until(lambda: any("RETRYING" in _statuses(e) for e in mongo.emails()), 20, "a retried send")
    time.sleep(max(0.0, 20 - (time.monotonic() - down_since)))
    assert smtp_sink.messages() == []
    smtp_sink.start()

    wait_until(lambda: len(smtp_sink.messages()) >= 3, 40, "three alert emails")
    time.sleep(3)  # a duplicate would have arrived by now
    subjects = sorted(m["Subject"] for m in smtp_sink.messages())
    assert len(subjects) == 3, subjects
    for alert, subject in zip(alerts, subjects, strict=True):
        assert alert.subject in subject

    emails = mongo.emails()
    assert len(emails) == 3
    assert all(e["status"] == "SENT" and e["sent_at"] for e in emails)
    for email in emails:  # all three waited out the outage side by side
        statuses = _statuses(email)
        assert statuses[0] == "PENDING" and statuses[-1] == "SENT" and statuses.count("SENT") == 1
        assert "RETRYING" in statuses and statuses.index("RETRYING") < statuses.index("SENT")
        # waiting for an unreachable relay uses no attempt: the one that went through is the first
        assert email["attempts"] == 1 and "relay unreachable" in email["last_error"]
    first = emails[0]
    for alert in alerts:
        assert (mongo.alert(alert.alert_key) or {})["status"] == "sent"

    events = read_email_events(settings, expect_at_least=sum(len(e["history"]) for e in emails))
    mine = [e.status for e in events if e.message_id == first["_id"]]
    assert mine[0] == "queued" and "retrying" in mine and mine[-1] == "sent"
    assert {e.recipient_domain for e in events} == {"localhost"}


def test_permanent_550_fails_after_one_attempt_and_redrive_sends_it_once_accepted(
    alerting_settings: Settings, tmp_path: Path, processes: ProcessGroup, mongo: Mongo
) -> None:
    handler = ScriptedSmtpHandler(tmp_path / "scripted", refuse_with="550 5.1.1 mailbox unavailable")
    server = SmtpSink(tmp_path / "scripted", handler=handler)
    server.start()
    try:
        settings = alerting_settings.model_copy(update={"smtp_port": server.port})
        alert = make_alert("127.0.2.1")
        processes.start("alerting", "alerting", settings)
        produce_alerts(settings, [alert])

        wait_until(lambda: (mongo.alert(alert.alert_key) or {}).get("status") == "failed", 30, "FAILED")
        [email] = mongo.emails()
        assert email["status"] == "FAILED" and email["attempts"] == 1
        assert "550" in email["last_error"]
        assert _statuses(email) == ["PENDING", "FAILED"]
        assert handler.rcpt_attempts == 1
        letter = mongo.db.dead_letters.find_one({"alert_key": alert.alert_key})
        assert letter is not None and letter["email_id"] == email["_id"] and letter["redriven_at"] is None
        assert server.messages() == []

        handler.refuse(None)
        env = {**os.environ, **settings.as_env()}
        redrive = [sys.executable, "-m", "failstream.cli", "alerts", "redrive"]
        done = subprocess.run(redrive, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert "re-sent 1 email(s)" in done.stdout

        messages = server.messages()
        assert len(messages) == 1 and alert.subject in messages[0]["Subject"]
        letter = mongo.db.dead_letters.find_one({"alert_key": alert.alert_key})
        assert letter is not None and letter["redriven_at"] is not None
        assert (mongo.alert(alert.alert_key) or {})["status"] == "sent"
        resent = mongo.db.emails.find_one({"redrive_of": email["_id"]})
        assert resent is not None and resent["status"] == "SENT"

        again = subprocess.run(redrive, env=env, capture_output=True, text=True, timeout=60)
        assert again.returncode == 0 and "re-sent 0 email(s)" in again.stdout
        assert len(server.messages()) == 1
    finally:
        server.stop()


def test_100_ips_within_group_wait_go_out_as_one_digest_naming_all_100(
    alerting_settings: Settings, smtp_sink: SmtpSink, processes: ProcessGroup, mongo: Mongo
) -> None:
    settings = alerting_settings.model_copy(update={"group_wait_s": 10.0, "fence_lease_s": 30.0})
    ips = [f"10.9.{i // 250}.{i % 250 + 1}" for i in range(100)]
    processes.start("alerting", "alerting", settings)
    produce_alerts(settings, [make_alert(ip) for ip in ips])

    wait_until(lambda: len(smtp_sink.messages()) >= 1, 40, "the digest")
    time.sleep(3)
    messages = smtp_sink.messages()
    assert len(messages) == 1, [m["Subject"] for m in messages]
    text = messages[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = messages[0].get_body(("html",)).get_content()  # type: ignore[union-attr]
    for ip in ips:
        assert f"{ip} (ip-failures" in text and f"{ip} <small>" in html
    assert messages[0]["Subject"].startswith("[Failstream] 100 alerts")
    [email] = mongo.emails()
    assert email["kind"] == "digest" and len(email["alert_keys"]) == 100 and email["status"] == "SENT"


def test_alerting_killed_between_claim_and_send_is_taken_over_and_sent_exactly_once(
    alerting_settings: Settings, smtp_sink: SmtpSink, processes: ProcessGroup, mongo: Mongo
) -> None:
    paused = alerting_settings.model_copy(
        update={"alerting_test_pause_after_claim_s": 120.0, "fence_lease_s": 3.0}
    )
    alert = make_alert("127.0.3.1")
    processes.start("alerting", "alerting", paused)
    produce_alerts(paused, [alert])
    wait_until(lambda: (mongo.alert(alert.alert_key) or {}).get("status") == "claimed", 30, "the claim")
    first_owner = (mongo.alert(alert.alert_key) or {})["owner"]
    processes.kill("alerting")  # SIGKILL: no cleanup, no commit

    processes.start(
        "alerting", "alerting", paused.model_copy(update={"alerting_test_pause_after_claim_s": 0})
    )
    wait_until(lambda: len(smtp_sink.messages()) >= 1, 60, "the taken-over alert email")
    time.sleep(3)
    assert len(smtp_sink.messages()) == 1
    stored = mongo.alert(alert.alert_key)
    assert stored is not None and stored["status"] == "sent"
    assert stored["owner"] != first_owner and stored["takeovers"] == 1
    assert len(mongo.emails()) == 1

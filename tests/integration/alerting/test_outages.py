"""The alerting process rides out outages of MongoDB, the Kafka broker and the SMTP relay by itself.

Each test runs the real ``failstream alerting`` process, takes a dependency
away mid-stream of alerts (the test's own FerretDB or broker, never the shared
ones; the test's own SMTP server) while alerts keep arriving, brings it back,
and checks: every alert emailed exactly once, the process never exited, the
log said down and back once each, ``/readyz`` answered 503 meanwhile, and the
overdue alerts went out within 15 s of the return.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from pydantic import SecretStr

from failstream.alerting.lease import plan_for
from failstream.alerting.service import SHUTDOWN_GRACE_S, consumer_group
from failstream.events import Alert, dumps
from failstream.infra.smtp_sink import MaildirHandler
from failstream.kafka_config import confluent_config, ensure_topics
from failstream.settings import Settings
from tests.integration.alerting.harness import Mongo, make_alert, produce_alerts
from tests.integration.alerting.outage import (
    AlertStream,
    ReadinessProbe,
    delivered_at,
    dependency_up,
    emails_per_subject,
    readiness,
)
from tests.integration.services import ProcessGroup, SmtpSink, free_port, wait_until
from tests.integration.throwaway import ThrowawayBroker, ThrowawayFerretDB

pytestmark = pytest.mark.integration

#: The issue's target: overdue alerts out within this long of the dependency's return.
OVERDUE_WITHIN_S = 15.0


def _committed_total(settings: Settings) -> int:
    consumer = Consumer({**confluent_config(settings), "group.id": consumer_group(settings)})
    try:
        parts = [TopicPartition(settings.topic_alerts, p) for p in range(settings.kafka_partitions)]
        return sum(max(tp.offset, 0) for tp in consumer.committed(parts, timeout=10))
    finally:
        consumer.close()


@pytest.fixture
def own_ferretdb(alerting_settings: Settings, tmp_path: Path) -> Iterator[ThrowawayFerretDB]:
    db = ThrowawayFerretDB(alerting_settings, tmp_path / "ferretdb")
    yield db
    db.kill()


def _settings_for_outage(base: Settings) -> Settings:
    return base.model_copy(
        update={
            "metrics_alerting_port": free_port(),
            "fence_lease_s": 10.0,
            "rate_limit_global": "1000/hour",  # every alert of the stream is its own email
        }
    )


def _seconds_until_emailed(alerts: list[Alert], sink: SmtpSink, since_epoch: float) -> float:
    """Seconds from ``since_epoch`` until the relay had the email of each of ``alerts``."""
    wait_until(
        lambda: len(delivered_at(sink.maildir, alerts)) == len(alerts),
        60,
        f"the {len(alerts)} overdue alerts' emails",
    )
    return max(delivered_at(sink.maildir, alerts).values()) - since_epoch


def _all_emailed_once(settings: Settings, stream: AlertStream, sink: SmtpSink, mongo: Mongo) -> None:
    """Wait until every alert is emailed and handled, then check each was emailed exactly once."""
    total = len(stream.sent)
    wait_until(lambda: len(sink.messages()) >= total, 60, f"{total} alert emails")
    # every offset committed: every alert finished, so no further email can still be on its way
    wait_until(lambda: _committed_total(settings) == total, 30, "every alert's offset committed")
    messages = sink.messages()
    counts = emails_per_subject(messages, stream.sent)
    assert len(messages) == total, f"{len(messages)} emails for {total} alerts"
    assert all(counts[a.subject] == 1 for a in stream.sent), counts
    assert len({m["Message-ID"] for m in messages}) == total
    statuses = {a.subject: (mongo.alert(a.alert_key) or {}).get("status") for a in stream.sent}
    assert set(statuses.values()) == {"sent"}, statuses


@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
def test_mongodb_down_for_30s_mid_stream_every_alert_is_emailed_once_after_it_returns(
    alerting_settings: Settings,
    own_ferretdb: ThrowawayFerretDB,
    smtp_sink: SmtpSink,
    processes: ProcessGroup,
    how: str,
) -> None:
    own_ferretdb.start()
    settings = _settings_for_outage(own_ferretdb.settings)
    mongo = Mongo(settings)
    proc = processes.start("alerting", "alerting", settings)
    probe = ReadinessProbe(settings.metrics_alerting_port)
    stream = AlertStream(settings, "10.61.0")
    try:
        stream.produce(5)
        wait_until(lambda: len(smtp_sink.messages()) == 5, 60, "the first five emails")
        stream.start()  # one new alert a second, before, during and after the outage

        own_ferretdb.stop() if how == "sigterm" else own_ferretdb.kill()
        down_at = time.monotonic()
        wait_until(lambda: "mongodb is down" in processes.log("alerting"), 30, "the down line")
        wait_until(lambda: readiness(settings.metrics_alerting_port) == 503, 30, "/readyz 503")
        assert dependency_up(settings.metrics_alerting_port, "mongodb") == 0
        emailed_early = 0
        while time.monotonic() - down_at < 30:  # the outage goes on while alerts keep coming
            assert proc.poll() is None, processes.tail("alerting")
            time.sleep(0.5)
            if not emailed_early and time.monotonic() - down_at > 10:  # what was in flight is out
                emailed_early = len(smtp_sink.messages())
        emailed_in_outage = len(smtp_sink.messages())
        own_ferretdb.start()
        back_at, back_epoch = time.monotonic(), time.time()
        overdue = list(stream.sent)
        overdue_s = _seconds_until_emailed(overdue, smtp_sink, back_epoch)
        wait_until(lambda: "mongodb is back" in processes.log("alerting"), 30, "the back line")
        after = len(stream.sent)
        wait_until(lambda: len(stream.sent) >= after + 3, 30, "three more alerts after the return")
        stream.stop()

        _all_emailed_once(settings, stream, smtp_sink, mongo)
        print(f"\nmongodb ({how}) back -> last of {len(overdue)} overdue emails {overdue_s:.1f} s")
        assert emailed_in_outage == emailed_early  # nothing goes out unclaimed while MongoDB is away
        assert overdue_s < OVERDUE_WITHIN_S
        assert proc.poll() is None
        log = processes.log("alerting")
        assert log.count("mongodb is down") == 1 and log.count("mongodb is back") == 1, log
        assert 503 in probe.statuses_between(down_at + 10, back_at)
        wait_until(lambda: readiness(settings.metrics_alerting_port) == 200, 15, "/readyz 200 again")
        assert dependency_up(settings.metrics_alerting_port, "mongodb") == 1
    finally:
        stream.stop()
        probe.stop()
        mongo.close()


def test_mongodb_down_when_alerting_starts_it_waits_and_sends_once_mongodb_is_up(
    alerting_settings: Settings,
    own_ferretdb: ThrowawayFerretDB,
    smtp_sink: SmtpSink,
    processes: ProcessGroup,
) -> None:
    settings = _settings_for_outage(own_ferretdb.settings)  # not started yet
    alert = make_alert("10.62.0.1")
    produce_alerts(settings, [alert])
    proc = processes.start("alerting", "alerting", settings)
    wait_until(lambda: "mongodb is down" in processes.log("alerting"), 30, "the down line")
    wait_until(lambda: readiness(settings.metrics_alerting_port) == 503, 30, "/readyz 503")
    assert proc.poll() is None

    own_ferretdb.start()
    back_at = time.monotonic()
    wait_until(lambda: len(smtp_sink.messages()) == 1, 30, "the alert's email")
    print(f"\nmongodb up at start-up -> email: {time.monotonic() - back_at:.1f} s")
    assert alert.subject in smtp_sink.messages()[0]["Subject"]
    assert proc.poll() is None and processes.log("alerting").count("mongodb is back") == 1


def test_smtp_down_for_25s_mid_stream_every_alert_is_emailed_once_after_it_returns(
    alerting_settings: Settings, smtp_sink: SmtpSink, processes: ProcessGroup, mongo: Mongo
) -> None:
    # two attempts: waiting for an unreachable relay must not use them up
    settings = _settings_for_outage(alerting_settings).model_copy(update={"send_attempts": 2})
    proc = processes.start("alerting", "alerting", settings)
    probe = ReadinessProbe(settings.metrics_alerting_port)
    stream = AlertStream(settings, "10.63.0")
    try:
        stream.produce(3)
        wait_until(lambda: len(smtp_sink.messages()) == 3, 60, "the first three emails")
        smtp_sink.stop()
        stream.start()
        down_at = time.monotonic()
        wait_until(lambda: "smtp is down" in processes.log("alerting"), 30, "the down line")
        wait_until(lambda: readiness(settings.metrics_alerting_port) == 503, 30, "/readyz 503")
        assert dependency_up(settings.metrics_alerting_port, "smtp") == 0
        while time.monotonic() - down_at < 25:
            assert proc.poll() is None, processes.tail("alerting")
            time.sleep(0.5)
        smtp_sink.start()
        back_at, back_epoch = time.monotonic(), time.time()
        overdue = list(stream.sent)
        overdue_s = _seconds_until_emailed(overdue, smtp_sink, back_epoch)
        wait_until(lambda: "smtp is back" in processes.log("alerting"), 30, "the back line")
        after = len(stream.sent)
        wait_until(lambda: len(stream.sent) >= after + 3, 30, "three more alerts after the return")
        stream.stop()

        _all_emailed_once(settings, stream, smtp_sink, mongo)
        print(f"\nsmtp back -> last of {len(overdue)} overdue emails {overdue_s:.1f} s")
        assert overdue_s < OVERDUE_WITHIN_S
        assert proc.poll() is None
        log = processes.log("alerting")
        assert log.count("smtp is down") == 1 and log.count("smtp is back") == 1, log
        assert 503 in probe.statuses_between(down_at + 5, back_at)
        failed = [e for e in mongo.emails() if e["status"] != "SENT"]
        assert failed == []  # a relay outage is no reason to give up on an email
        wait_until(lambda: readiness(settings.metrics_alerting_port) == 200, 15, "/readyz 200 again")
        assert dependency_up(settings.metrics_alerting_port, "smtp") == 1
    finally:
        stream.stop()
        probe.stop()


@pytest.fixture
def own_broker(alerting_settings: Settings, tmp_path: Path) -> Iterator[ThrowawayBroker]:
    broker = ThrowawayBroker(alerting_settings, tmp_path / "kafka")
    yield broker
    broker.kill()


def test_kafka_broker_down_for_20s_alerts_produced_meanwhile_are_emailed_once_after_it_returns(
    own_broker: ThrowawayBroker, smtp_sink: SmtpSink, processes: ProcessGroup, mongo: Mongo
) -> None:
    own_broker.start()
    settings = _settings_for_outage(own_broker.settings)
    ensure_topics(settings)
    proc = processes.start("alerting", "alerting", settings)
    probe = ReadinessProbe(settings.metrics_alerting_port)
    # the producer buffers what is produced while the broker is away (as a host's capture does)
    producer = Producer({**confluent_config(settings), "log_level": 0})  # refused connects: expected
    alerts = [make_alert(f"10.64.0.{i}") for i in range(1, 16)]
    try:
        for alert in alerts[:3]:
            producer.produce(settings.topic_alerts, key=alert.subject.encode(), value=dumps(alert))
        producer.flush(15)
        wait_until(lambda: len(smtp_sink.messages()) == 3, 60, "the first three emails")

        own_broker.stop()
        down_at = time.monotonic()
        wait_until(lambda: "kafka is down" in processes.log("alerting"), 30, "the down line")
        wait_until(lambda: readiness(settings.metrics_alerting_port) == 503, 30, "/readyz 503")
        assert dependency_up(settings.metrics_alerting_port, "kafka") == 0
        for alert in alerts[3:]:
            producer.produce(settings.topic_alerts, key=alert.subject.encode(), value=dumps(alert))
            producer.poll(0)
        while time.monotonic() - down_at < 20:
            assert proc.poll() is None, processes.tail("alerting")
            time.sleep(0.5)
        own_broker.start()
        back_at, back_epoch = time.monotonic(), time.time()
        assert producer.flush(60) == 0, "alerts produced during the outage not delivered"

        last_email_s = _seconds_until_emailed(alerts[3:], smtp_sink, back_epoch)
        wait_until(lambda: _committed_total(settings) == len(alerts), 60, "every alert's offset committed")
        print(f"\nkafka back -> last of {len(alerts) - 3} overdue emails {last_email_s:.1f} s")
        assert last_email_s < OVERDUE_WITHIN_S
        messages = smtp_sink.messages()
        counts = emails_per_subject(messages, alerts)
        assert len(messages) == len(alerts) and all(counts[a.subject] == 1 for a in alerts), counts
        assert proc.poll() is None
        log = processes.log("alerting")
        assert log.count("kafka is down") == 1 and log.count("kafka is back") == 1, log
        assert 503 in probe.statuses_between(down_at + 5, back_at)
        wait_until(lambda: readiness(settings.metrics_alerting_port) == 200, 15, "/readyz 200 again")
        assert dependency_up(settings.metrics_alerting_port, "kafka") == 1
    finally:
        probe.stop()


class _StopsMongoOnData(MaildirHandler):
    """Accepts the first message only once MongoDB is gone: the email is out, its record not yet."""

    def __init__(self, maildir: Path, ferretdb: ThrowawayFerretDB) -> None:
        super().__init__(maildir)
        self._ferretdb = ferretdb
        self.stopped_at: float | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        reply = await super().handle_DATA(server, session, envelope)
        if self.stopped_at is None:
            self._ferretdb.stop()  # blocks the relay's answer, within the client's timeout
            self.stopped_at = time.monotonic()
        return reply


def test_mongodb_gone_between_sending_and_recording_past_the_lease_never_sends_twice(
    alerting_settings: Settings, own_ferretdb: ThrowawayFerretDB, tmp_path: Path, processes: ProcessGroup
) -> None:
    own_ferretdb.start()
    handler = _StopsMongoOnData(tmp_path / "relay", own_ferretdb)
    relay = SmtpSink(tmp_path / "relay", handler)
    relay.start()
    # a lease of 6 s x 3 attempts + backoff + margin, well inside the outage below
    settings = _settings_for_outage(own_ferretdb.settings).model_copy(
        update={"smtp_port": relay.port, "smtp_timeout_s": 4.0, "fence_lease_s": 5.0}
    )
    lease_s = plan_for(settings).lease_s
    mongo = Mongo(settings)
    first, later = make_alert("10.65.0.1"), make_alert("10.65.0.2")
    try:
        proc = processes.start("alerting", "alerting", settings)
        produce_alerts(settings, [first])
        wait_until(lambda: handler.stopped_at is not None, 60, "the relay to take the email, MongoDB gone")
        stopped_at = handler.stopped_at
        assert stopped_at is not None
        while time.monotonic() - stopped_at < lease_s + 5:  # the claim's lease runs out meanwhile
            assert proc.poll() is None, processes.tail("alerting")
            time.sleep(0.5)
        own_ferretdb.start()
        produce_alerts(settings, [later])

        wait_until(lambda: len(relay.messages()) == 2, 60, "the later alert's email")
        wait_until(lambda: _committed_total(settings) == 2, 30, "both offsets committed")
        counts = emails_per_subject(relay.messages(), [first, later])
        assert counts == {first.subject: 1, later.subject: 1}, counts
        assert (mongo.alert(first.alert_key) or {}).get("status") == "sent"
        log = processes.log("alerting")
        assert "taken over" not in log and log.count("mongodb is down") == 1, log
        assert proc.poll() is None
    finally:
        relay.stop()
        mongo.close()


def test_a_setting_that_cannot_work_still_ends_the_process_with_one_line_even_with_mongodb_down(
    alerting_settings: Settings, processes: ProcessGroup, tmp_path: Path
) -> None:
    settings = _settings_for_outage(alerting_settings).model_copy(
        update={
            "mongo_uri": SecretStr(f"mongodb://127.0.0.1:{free_port()}/"),  # nothing listens
            "smtp_tls": "starttls",
            "smtp_ca_file": str(tmp_path / "missing-ca.pem"),
        }
    )
    proc = processes.start("alerting", "alerting", settings)
    assert proc.wait(timeout=60) == 1  # waiting cannot fix a setting: exit for the supervisor
    lines = [line for line in processes.log("alerting").splitlines() if "SMTP_CA_FILE" in line]
    assert len(lines) == 1 and lines[0].startswith("failstream alerting: FAILSTREAM_SMTP_CA_FILE"), lines
    assert "mongodb is down" not in processes.log("alerting")


def test_sigterm_while_mongodb_is_down_exits_promptly_and_leaves_the_alert_for_the_next_process(
    alerting_settings: Settings,
    own_ferretdb: ThrowawayFerretDB,
    smtp_sink: SmtpSink,
    processes: ProcessGroup,
) -> None:
    own_ferretdb.start()
    settings = _settings_for_outage(own_ferretdb.settings)
    first = processes.start("first", "alerting", settings)
    wait_until(lambda: readiness(settings.metrics_alerting_port) == 200, 60, "the first process ready")
    own_ferretdb.stop()
    alert = make_alert("10.66.0.1")
    produce_alerts(settings, [alert])
    wait_until(lambda: "mongodb is down" in processes.log("first"), 30, "the down line")

    started = time.monotonic()
    first.terminate()
    assert first.wait(timeout=60) == 0
    assert time.monotonic() - started < SHUTDOWN_GRACE_S + 15
    assert _committed_total(settings) == 0  # held, not dropped: its offset stays for the next process
    assert smtp_sink.messages() == []

    own_ferretdb.start()
    processes.start("second", "alerting", settings)
    wait_until(lambda: len(smtp_sink.messages()) == 1, 60, "the alert's email from the next process")
    wait_until(lambda: _committed_total(settings) == 1, 30, "its offset committed")
    assert alert.subject in smtp_sink.messages()[0]["Subject"]

"""Silences, rate limits, TLS and racing processes: the real stages on FerretDB and aiosmtpd."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult
from pydantic import SecretStr

from failstream.events import now_ms
from failstream.settings import Settings
from tests.integration.alerting.harness import InProcessAlerting, Mongo, ScriptedSmtpHandler, make_alert
from tests.integration.services import SmtpSink, make_certificates

pytestmark = pytest.mark.integration


async def test_silenced_subject_is_recorded_suppressed_and_not_emailed(
    alerting_settings: Settings, smtp_sink: SmtpSink, mongo: Mongo
) -> None:
    mongo.db.silences.insert_one(
        {"_id": "s-1", "subject": "10.1.0.1", "reason": "pen test", "until": now_ms() + 60_000}
    )
    mongo.db.silences.insert_one(
        {"_id": "s-old", "subject": "10.1.0.2", "reason": "x", "until": now_ms() - 1}
    )
    alerting = InProcessAlerting(alerting_settings, "test-owner")
    try:
        await alerting.feed(make_alert("10.1.0.1"))
        await alerting.feed(make_alert("10.1.0.2"))
    finally:
        await alerting.close()
    subjects = [m["Subject"] for m in smtp_sink.messages()]
    assert len(subjects) == 1 and "10.1.0.2" in subjects[0]
    silenced = mongo.alert(make_alert("10.1.0.1").alert_key)
    assert silenced is not None
    assert (silenced["status"], silenced["suppressed_by"], silenced["silence_id"]) == (
        "suppressed",
        "silence",
        "s-1",
    )


async def test_rate_limited_alert_is_visible_as_suppressed_and_named_in_the_next_email(
    alerting_settings: Settings, smtp_sink: SmtpSink, mongo: Mongo
) -> None:
    alerting = InProcessAlerting(alerting_settings, "test-owner")
    try:
        await alerting.feed(make_alert("10.2.0.1", episode=1))
        await alerting.feed(make_alert("10.2.0.1", episode=2, count=9))
        held = mongo.alert(make_alert("10.2.0.1", episode=2).alert_key)
        assert held is not None and (held["status"], held["suppressed_by"]) == ("suppressed", "rate_limit")
        assert await alerting.stages.backlog.count() == 1
        await alerting.feed(make_alert("10.2.0.2"))
    finally:
        await alerting.close()
    messages = smtp_sink.messages()
    assert len(messages) == 2
    text = messages[1].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "1 alert(s) held back by the rate limit" in text and "10.2.0.1 (ip-failures, 9 failures" in text
    held = mongo.alert(make_alert("10.2.0.1", episode=2).alert_key)
    assert held is not None and held["folded_into"] == messages[1]["Message-ID"]


async def test_two_processes_racing_for_one_alert_send_it_once(
    alerting_settings: Settings, smtp_sink: SmtpSink, mongo: Mongo
) -> None:
    first, second = InProcessAlerting(alerting_settings, "a"), InProcessAlerting(alerting_settings, "b")
    alerts = [make_alert(f"10.3.0.{i}") for i in range(1, 11)]
    try:
        await asyncio.gather(*(first.feed(a) for a in alerts), *(second.feed(a) for a in alerts))
    finally:
        await first.close()
        await second.close()
    subjects = [m["Subject"] for m in smtp_sink.messages()]
    assert len(subjects) == 10
    assert {a.subject for a in alerts} == {
        next(a.subject for a in alerts if a.subject + " " in s) for s in subjects
    }
    # each process finished every alert: sent it itself or found it already handled
    assert len(first.handled) == len(second.handled) == 10
    owners = {(mongo.alert(a.alert_key) or {}).get("owner") for a in alerts}
    assert owners <= {"a", "b"} and len(mongo.emails()) == 10


class _Authenticator:
    def __init__(self) -> None:
        self.logins: list[str] = []

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = data.login == b"alerting" and data.password == b"s3cret"
        if ok:
            self.logins.append(data.login.decode())
        return AuthResult(success=ok)


async def test_starttls_with_verified_certificate_and_auth_delivers_and_bad_ca_fails_for_good(
    alerting_settings: Settings, tmp_path: Path, mongo: Mongo
) -> None:
    ca, cert, key = make_certificates(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(str(cert), str(key))
    handler = ScriptedSmtpHandler(tmp_path / "tls-mail")
    auth = _Authenticator()
    server = SmtpSink(tmp_path / "tls-mail", handler=handler)
    from aiosmtpd.controller import Controller

    server._controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=server.port,
        tls_context=server_tls,
        require_starttls=True,
        auth_required=True,
        authenticator=auth,
    )
    server._controller.start()
    try:
        tls = alerting_settings.model_copy(
            update={
                "smtp_port": server.port,
                "smtp_tls": "starttls",
                "smtp_ca_file": str(ca),
                "smtp_user": "alerting",
                "smtp_password": SecretStr("s3cret"),
            }
        )
        alerting = InProcessAlerting(tls, "tls-owner")
        try:
            await alerting.feed(make_alert("10.4.0.1"))
        finally:
            await alerting.close()
        assert len(server.messages()) == 1 and auth.logins == ["alerting"]

        untrusted = tls.model_copy(update={"smtp_ca_file": ""})  # the system CAs don't know our test CA
        alerting = InProcessAlerting(untrusted, "tls-owner-2")
        try:
            await alerting.feed(make_alert("10.4.0.2"))
        finally:
            await alerting.close()
        assert len(server.messages()) == 1
        failed = mongo.db.emails.find_one({"alert_keys": make_alert("10.4.0.2").alert_key})
        assert failed is not None and failed["status"] == "FAILED" and failed["attempts"] == 1
        assert "TLS" in failed["last_error"] or "CERTIFICATE" in failed["last_error"]
        assert "s3cret" not in str(failed)
    finally:
        server.stop()


async def test_claim_left_by_a_dead_process_is_taken_over_once_its_lease_ends(
    alerting_settings: Settings, smtp_sink: SmtpSink, mongo: Mongo
) -> None:
    expired, live = make_alert("10.5.0.1"), make_alert("10.5.0.2")
    now = now_ms()
    mongo.db.alerts.insert_one(
        {"_id": expired.alert_key, "status": "claimed", "owner": "dead", "lease_until": now - 1}
    )
    mongo.db.alerts.insert_one(
        {"_id": live.alert_key, "status": "grouped", "owner": "gone", "lease_until": now + 2000}
    )
    alerting = InProcessAlerting(alerting_settings, "heir")
    try:
        await alerting.feed(expired)
        started = now_ms()
        await alerting.feed(live)
        waited_ms = now_ms() - started
    finally:
        await alerting.close()
    assert len(smtp_sink.messages()) == 2
    assert waited_ms >= 1500  # it did not steal the live lease
    for alert in (expired, live):
        stored = mongo.alert(alert.alert_key)
        assert stored is not None
        assert (stored["status"], stored["owner"], stored["takeovers"]) == ("sent", "heir", 1)


async def test_implicit_tls_with_verified_certificate_delivers(
    alerting_settings: Settings, tmp_path: Path, mongo: Mongo
) -> None:
    from aiosmtpd.controller import Controller

    ca, cert, key = make_certificates(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(str(cert), str(key))
    handler = ScriptedSmtpHandler(tmp_path / "implicit-mail")
    server = SmtpSink(tmp_path / "implicit-mail", handler=handler)
    server._controller = Controller(handler, hostname="127.0.0.1", port=server.port, ssl_context=server_tls)
    server._controller.start()
    try:
        settings = alerting_settings.model_copy(
            update={"smtp_port": server.port, "smtp_tls": "implicit", "smtp_ca_file": str(ca)}
        )
        alerting = InProcessAlerting(settings, "implicit-owner")
        try:
            await alerting.feed(make_alert("10.6.0.1"))
        finally:
            await alerting.close()
        [message] = server.messages()
        assert "10.6.0.1" in message["Subject"]
        [email] = mongo.emails()
        assert email["status"] == "SENT" and email["attempts"] == 1
    finally:
        server.stop()

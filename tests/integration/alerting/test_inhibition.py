"""Inhibition and alert details on the real stages: FerretDB, aiosmtpd, Kafka for email events."""

from __future__ import annotations

from typing import Any

import pytest

from failstream.events import Alert, now_ms
from failstream.settings import Settings
from tests.integration.alerting.harness import InProcessAlerting, Mongo, make_alert
from tests.integration.services import SmtpSink

pytestmark = pytest.mark.integration

ROUTE = "POST /api/submit"


def route_alert(ip: str, *, state: str = "firing", episode: int = 1, **fields: Any) -> Alert:
    now = now_ms()
    values: dict[str, Any] = {
        "alert_key": f"ip-route-failures:{ip} {ROUTE}:{episode}:{state}",
        "rule": "ip-route-failures",
        "state": state,
        "reasons": {},
        "routes": {},
        "count": 20,
        "threshold": 20,
        "first_seen": now - 5_000,
        "last_seen": now,
        "episode_start": now - 5_000,
    }
    values.update(fields)
    return make_alert(f"{ip} {ROUTE}", **values)


def text_of(message: Any) -> str:
    return str(message.get_body(("plain",)).get_content())


async def test_route_alert_of_a_firing_ip_is_folded_into_the_ips_next_email_not_sent_alone(
    alerting_settings: Settings, smtp_sink: SmtpSink, mongo: Mongo
) -> None:
    ip_alert = make_alert("10.20.0.1")
    route = route_alert("10.20.0.1")
    alerting = InProcessAlerting(alerting_settings, "test-owner")
    try:
        await alerting.feed(ip_alert)
        await alerting.feed(route)
        await alerting.feed(route)  # re-delivered: handled once
        held = mongo.alert(route.alert_key)
        assert held is not None
        assert (held["status"], held["suppressed_by"], held["inhibited_by"], held["folded_into"]) == (
            "suppressed",
            "inhibited",
            ip_alert.alert_key,
            None,
        )
        assert len(smtp_sink.messages()) == 1
        # the route's episode ends inside the IP's: its resolution is inhibited too
        route_resolved = route_alert("10.20.0.1", state="resolved", episode_start=route.episode_start)
        await alerting.feed(route_resolved)
        resolved = make_alert("10.20.0.1", state="resolved", alert_key="ip-failures:10.20.0.1:1:resolved")
        await alerting.feed(resolved)
    finally:
        await alerting.close()
    messages = smtp_sink.messages()
    assert [" ".join(str(m["Subject"]).split()).split(":")[0] for m in messages] == [
        "[Failstream] ip-failures",
        "[Failstream] RESOLVED ip-failures",
    ]
    assert f"also: route {ROUTE} crossed its threshold (20 failures in 600s, threshold 20)" in text_of(
        messages[1]
    )
    assert "also:" not in text_of(messages[0])
    folded = mongo.alert(route.alert_key)
    assert folded is not None and folded["folded_into"] == messages[1]["Message-ID"]
    ended = mongo.alert(route_resolved.alert_key)
    assert ended is not None and (ended["status"], ended["suppressed_by"]) == ("suppressed", "inhibited")
    assert alerting.handled == [1, 2, 3, 4, 5]


async def test_route_alert_in_the_same_digest_as_its_ips_alert_is_folded_into_its_block(
    alerting_settings: Settings, smtp_sink: SmtpSink, mongo: Mongo
) -> None:
    settings = alerting_settings.model_copy(update={"group_wait_s": 30.0})
    ip_alert = make_alert("10.20.0.2")
    route = route_alert("10.20.0.2")
    alerting = InProcessAlerting(settings, "test-owner")
    try:
        await alerting.feed(route)  # another partition: it may come first
        await alerting.feed(ip_alert)
        assert smtp_sink.messages() == []
        await alerting.pipeline.flush_all()
    finally:
        await alerting.close()
    [message] = smtp_sink.messages()
    assert message["Subject"].startswith("[Failstream] ip-failures: 10.20.0.2 had 5 failures")
    assert f"also: route {ROUTE} crossed its threshold" in text_of(message)
    folded = mongo.alert(route.alert_key)
    assert folded is not None
    assert (folded["status"], folded["suppressed_by"], folded["folded_into"]) == (
        "suppressed",
        "inhibited",
        message["Message-ID"],
    )
    sent = mongo.alert(ip_alert.alert_key)
    assert sent is not None and sent["status"] == "sent"


async def test_route_alert_on_its_own_shows_the_reasons_and_route_of_its_failures_and_opens_its_ip(
    alerting_settings: Settings, smtp_sink: SmtpSink, mongo: Mongo
) -> None:
    route = route_alert("10.20.0.3")
    method, path = ROUTE.split(" ")
    stored = [
        {
            "_id": f"f{i}",
            "ip": "10.20.0.3",
            "method": method,
            "route": path,
            "ts": route.first_seen + i,
            "reason": "invalid_token" if i < 15 else "expired_token",
        }
        for i in range(20)
    ]
    stored.append(  # another route of the IP: not this alert's
        {
            "_id": "other",
            "ip": "10.20.0.3",
            "method": "GET",
            "route": "/x",
            "ts": route.first_seen,
            "reason": "forbidden",
        }
    )
    mongo.db.failures.insert_many(stored)
    alerting = InProcessAlerting(alerting_settings, "test-owner")
    try:
        await alerting.feed(route)
    finally:
        await alerting.close()
    [message] = smtp_sink.messages()
    text = text_of(message)
    assert "reasons: invalid_token=15, expired_token=5" in text
    assert f"    20  {ROUTE}" in text and "forbidden" not in text
    assert "dashboard: http://127.0.0.1:8000/#/ip/10.20.0.3" in text

"""Receivers besides email through the composed pipeline, against a real HTTP server on loopback.

The email stages are the in-memory stand-ins of test_pipeline; the receivers'
fence is the real ``AlertFence`` on a dict-backed collection, and every
request crosses a real socket to ``receiver_server``, which verifies the
webhook signature itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from failstream.alerting.delivery import AlertDelivery
from failstream.alerting.dependencies import Held
from failstream.alerting.fence import AlertFence
from failstream.alerting.pipeline import AlertPipeline, Stages
from failstream.alerting.ratelimit import AlertRateLimiter
from failstream.alerting.receivers.deliveries import ReceiverDeliveries, receivers_lease
from failstream.alerting.receivers.routing import build_receiver
from failstream.events import Alert, dumps
from failstream.settings import Settings
from tests.unit.alerting.factories import T0, alert
from tests.unit.alerting.memory_collection import MemoryDatabase
from tests.unit.alerting.receiver_server import ReceiverServer, receiver_server
from tests.unit.alerting.test_pipeline import (
    FakeBacklog,
    FakeClock,
    FakeFence,
    FakeLetters,
    FakeLog,
    FakeNotifier,
    FakeSilences,
)

SECRET = "hook-secret-0123456789"


class Letters(FakeLetters):
    def __init__(self) -> None:
        super().__init__()
        self.receiver_letters: list[tuple[str, str, str]] = []

    async def record_failed_delivery(self, d: AlertDelivery, receiver: str, key: str, error: str) -> None:
        self.receiver_letters.append((f"{d.dead_letter_id}|{receiver}", key, error))


class Harness:
    def __init__(self, receivers: list[dict[str, Any]], **settings: Any) -> None:
        self.clock = FakeClock()
        values = {"group_wait_s": 0.0, "receivers": json.dumps(receivers), "receiver_timeout_s": 5.0}
        self.settings = Settings(**{**values, **settings})
        self.db = MemoryDatabase()
        self.notifier = FakeNotifier()
        self.letters = Letters()
        fence = FakeFence(self.clock)
        self.client = httpx.AsyncClient(verify=True, follow_redirects=False)
        lease = receivers_lease(self.settings)
        self.deliveries = ReceiverDeliveries(
            self.settings,
            [build_receiver(c, self.client, self.settings) for c in self.settings.receivers],
            AlertFence(self.db["receiver_deliveries"], "owner-1", lease.lease_ms, self.clock),  # type: ignore[arg-type]
            self.db["receiver_deliveries"],  # type: ignore[arg-type]
            self.letters,  # type: ignore[arg-type]
            lease,
            Held(),
            self.clock,
            sleep=self.clock.sleep,
            rand=lambda: 0.0,
        )
        stages = Stages(
            fence=fence,  # type: ignore[arg-type]
            silences=FakeSilences(set()),  # type: ignore[arg-type]
            limiter=AlertRateLimiter.from_settings(self.settings),
            notifier=self.notifier,  # type: ignore[arg-type]
            email_log=FakeLog(),  # type: ignore[arg-type]
            letters=self.letters,  # type: ignore[arg-type]
            backlog=FakeBacklog(fence),  # type: ignore[arg-type]
            receivers=self.deliveries,
        )
        self.handled: list[int] = []
        self.pipeline = AlertPipeline(
            self.settings,
            stages,
            on_handled=lambda d: self.handled.append(d.offset),
            clock=self.clock,
            sleep=self.clock.sleep,
            rand=lambda: 0.0,
        )
        self.offset = 0

    async def feed(self, a: Alert) -> None:
        self.offset += 1
        await self.pipeline.handle(AlertDelivery(a, "alerts", 0, self.offset, a.subject.encode(), dumps(a)))

    def delivery(self, key: str) -> dict[str, Any]:
        return self.db["receiver_deliveries"].docs[key]


@pytest.fixture
def hook() -> Iterator[ReceiverServer]:
    with receiver_server(secret=SECRET) as server:
        yield server


def _webhook(server: ReceiverServer, **fields: Any) -> dict[str, Any]:
    return {"name": "ops-hook", "kind": "webhook", "url": server.url(), "secret": SECRET, **fields}


def _counter(receiver: str, outcome: str) -> float:
    labels = {"receiver": receiver, "kind": "webhook", "outcome": outcome}
    return REGISTRY.get_sample_value("failstream_alerting_receiver_deliveries_total", labels) or 0.0


async def test_webhook_gets_a_signed_body_of_the_documented_schema_once_and_email_still_goes(
    hook: ReceiverServer,
) -> None:
    h = Harness([_webhook(hook)])
    sent_before = _counter("ops-hook", "sent")
    a = alert("10.0.0.1")
    await h.feed(a)
    await h.feed(a)  # Kafka re-delivers the same alert
    (request,) = hook.received
    assert request.status == 200  # the server verified the signature
    assert request.headers["X-Failstream-Signature"].startswith("sha256=")
    assert request.headers["X-Failstream-Delivery"] == f"{a.alert_key}|ops-hook"
    body = request.json()
    assert set(body) == {"v", "delivery_id", "receiver", "severity", "dashboard_url", "alert"}
    assert (body["v"], body["receiver"], body["severity"]) == (1, "ops-hook", "warning")
    assert body["alert"]["alert_key"] == a.alert_key and body["alert"]["reasons"] == {"invalid_token": 6}
    assert h.delivery(f"{a.alert_key}|ops-hook")["status"] == "sent"
    assert len(h.notifier.sent) == 1 and h.handled == [1, 2]
    assert _counter("ops-hook", "sent") == sent_before + 1
    await h.client.aclose()


async def test_a_500_is_retried_with_backoff_then_delivered(hook: ReceiverServer) -> None:
    h = Harness([_webhook(hook)])
    hook.script = [500]
    start = h.clock()
    await h.feed(alert("10.0.0.2"))
    assert [r.status for r in hook.received] == [500, 200]
    # the signed body is the same on both attempts: only the timestamp may change
    assert hook.received[0].body == hook.received[1].body
    doc = h.delivery(f"{alert('10.0.0.2').alert_key}|ops-hook")
    assert (doc["status"], doc["attempts"]) == ("sent", 2)
    assert h.clock() - start >= 500  # smtp_retry_base_s 1 s with jitter at its floor: half of it
    assert h.letters.receiver_letters == []
    await h.client.aclose()


async def test_final_failure_is_recorded_failed_and_dead_lettered_and_the_email_still_goes(
    hook: ReceiverServer,
) -> None:
    h = Harness([_webhook(hook)], send_attempts=3)
    hook.script = [503, 503, 503]
    failed_before = _counter("ops-hook", "failed")
    a = alert("10.0.0.3")
    await h.feed(a)
    assert [r.status for r in hook.received] == [503, 503, 503]
    doc = h.delivery(f"{a.alert_key}|ops-hook")
    assert (doc["status"], doc["attempts"]) == ("failed", 3)
    assert "HTTP 503" in doc["last_error"] and "127.0.0.1" not in doc["last_error"]
    assert h.letters.receiver_letters == [
        ("alerts:0:1|ops-hook", f"{a.alert_key}|ops-hook", doc["last_error"])
    ]
    assert h.letters.letters == []  # the email's dead letters are untouched
    assert len(h.notifier.sent) == 1 and h.handled == [1]
    assert _counter("ops-hook", "failed") == failed_before + 1
    await h.client.aclose()


async def test_a_wrong_secret_is_refused_by_the_receiver_and_not_retried(hook: ReceiverServer) -> None:
    h = Harness([{**_webhook(hook), "secret": "not-the-receivers-secret"}])
    await h.feed(alert("10.0.0.4"))
    assert [r.status for r in hook.received] == [401]  # a 4xx is permanent
    assert h.delivery(f"{alert('10.0.0.4').alert_key}|ops-hook")["status"] == "failed"
    assert len(h.letters.receiver_letters) == 1
    await h.client.aclose()


async def test_routing_by_rule_and_severity_and_resolved_only_where_the_firing_went(
    hook: ReceiverServer,
) -> None:
    with receiver_server() as slack:
        h = Harness(
            [
                _webhook(hook, rules=["ip-failures"], severities=["critical"]),
                {
                    "name": "team-slack",
                    "kind": "slack",
                    "url": slack.url("/slack"),
                    "severities": ["warning"],
                },
            ]
        )
        await h.feed(alert("10.0.0.5", severity="critical"))
        await h.feed(alert("10.0.0.6", severity="warning"))
        await h.feed(alert("10.0.0.7", severity="critical", rule="ip-route-failures", alert_key="r:1"))
        await h.feed(
            alert("10.0.0.5", state="resolved", severity="info", alert_key="ip-failures:10.0.0.5:resolved")
        )
        hooked = [r.json() for r in hook.received]
        assert [(b["alert"]["subject"], b["alert"]["state"], b["severity"]) for b in hooked] == [
            ("10.0.0.5", "firing", "critical"),
            ("10.0.0.5", "resolved", "critical"),  # the episode's severity, not the notice's "info"
        ]
        (slacked,) = [r.json() for r in slack.received]  # 10.0.0.6 only: its resolution never came
        assert "10.0.0.6" in slacked["text"]
        assert [b["type"] for b in slacked["blocks"]] == ["header", "section", "context"]
        await h.client.aclose()


async def test_resolved_notices_reach_receivers_even_when_not_emailed(hook: ReceiverServer) -> None:
    h = Harness([_webhook(hook)], notify_resolved_rules="")
    await h.feed(alert("10.0.0.8"))
    await h.feed(alert("10.0.0.8", state="resolved", severity="info", alert_key="k:resolved"))
    assert [r.json()["alert"]["state"] for r in hook.received] == ["firing", "resolved"]
    assert len(h.notifier.sent) == 1  # the firing email only, as before
    await h.client.aclose()


def test_alertmanager_alerts_carry_labels_and_end_when_resolved() -> None:
    from failstream.alerting.receivers.alertmanager import alerts_url, postable_alerts
    from failstream.alerting.receivers.notice import Notice

    firing = postable_alerts(Notice(alert("10.0.0.9"), "k|am", "critical", "http://d/"), 3600)[0]
    assert firing["labels"] == {
        "alertname": "ip-failures",
        "rule": "ip-failures",
        "subject": "10.0.0.9",
        "severity": "critical",
        "source": "failstream",
    }
    assert firing["endsAt"] == "2023-11-14T23:23:20.000Z"  # T0 + repeat interval + window
    resolved = alert("10.0.0.9", state="resolved", severity="info", ts=T0 + 5000)
    ended = postable_alerts(Notice(resolved, "k2|am", "critical", "http://d/"), 3600)[0]
    assert ended["labels"] == firing["labels"] and ended["endsAt"] == "2023-11-14T22:13:25.000Z"
    assert alerts_url("https://am.example.com/") == "https://am.example.com/api/v2/alerts"
    assert alerts_url("https://am.example.com/api/v2/alerts") == "https://am.example.com/api/v2/alerts"


def test_slack_escapes_what_events_carry() -> None:
    from failstream.alerting.receivers.notice import Notice
    from failstream.alerting.receivers.slack import slack_message

    message = slack_message(
        Notice(alert("10.0.0.10", routes={"/<!channel>&x": 3}), "k", "warning", "http://d/")
    )
    text = json.dumps(message)
    assert "<!channel>" not in text and "&lt;!channel&gt;&amp;x" in text

"""Receivers besides email on the real stages: FerretDB fence, Kafka email events, aiosmtpd, and
a real Alertmanager (Debian's ``prometheus-alertmanager``) read back through its own API."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
from pydantic import SecretStr

from failstream.alerting.delivery import AlertDelivery
from failstream.alerting.receivers.alertmanager import rfc3339
from failstream.events import dumps, now_ms
from failstream.settings import ReceiverConfig, Settings
from tests.integration.alerting.alertmanager import alertmanager
from tests.integration.alerting.harness import InProcessAlerting, Mongo, make_alert
from tests.integration.services import SmtpSink
from tests.unit.alerting.receiver_server import receiver_server

pytestmark = pytest.mark.integration

T = TypeVar("T")
SECRET = "integration-hook-secret"


async def eventually(probe: Callable[[], T], ok: Callable[[T], bool], timeout_s: float = 15.0) -> T:
    """Poll ``probe`` until ``ok`` holds (a condition, not a fixed sleep)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = await asyncio.to_thread(probe)
        if ok(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met in {timeout_s} s; last value {value!r}")
        await asyncio.sleep(0.1)


def with_receivers(settings: Settings, *receivers: ReceiverConfig) -> Settings:
    return settings.model_copy(update={"receivers": receivers})


async def test_alertmanager_holds_the_alert_with_its_labels_and_ends_it_on_resolve(
    alerting_settings: Settings, smtp_sink: SmtpSink, mongo: Mongo, tmp_path: Path
) -> None:
    with receiver_server() as am_hook, alertmanager(tmp_path, am_hook.url("/am")) as am:
        receiver = ReceiverConfig(name="team-am", kind="alertmanager", url=SecretStr(am.url))
        alerting = InProcessAlerting(with_receivers(alerting_settings, receiver), "owner-am")
        firing = make_alert("10.9.0.1", severity="critical")
        try:
            await alerting.feed(firing)
            (held,) = await eventually(lambda: am.alerts("10.9.0.1"), lambda a: len(a) == 1)
            assert held["labels"] == {
                "alertname": "ip-failures",
                "rule": "ip-failures",
                "subject": "10.9.0.1",
                "severity": "critical",
                "source": "failstream",
            }
            assert held["status"]["state"] == "active"
            assert held["endsAt"] > rfc3339(now_ms())  # held until a re-notification or the end
            await alerting.feed(firing)  # re-delivered: fenced, not posted again
            resolved = make_alert(
                "10.9.0.1",
                state="resolved",
                severity="info",
                alert_key=f"{firing.alert_key}:resolved",
                episode_start=firing.episode_start,
            )
            await alerting.feed(resolved)
            await eventually(lambda: am.alerts("10.9.0.1"), lambda a: a == [])
            # Alertmanager routed the resolution its own way: to its webhook, with our endsAt
            got = am_hook.wait_for(lambda r: any(x.json()["status"] == "resolved" for x in r))
            (note,) = [x.json() for x in got if x.json()["status"] == "resolved"]
            (ended,) = note["alerts"]
            assert ended["labels"]["severity"] == "critical" and ended["labels"]["subject"] == "10.9.0.1"
            assert ended["endsAt"].startswith(rfc3339(resolved.ts)[:19])
        finally:
            await alerting.close()
    deliveries = sorted((d["_id"], d["status"], d["attempts"]) for d in mongo.db.receiver_deliveries.find())
    assert deliveries == [
        (f"{firing.alert_key}:resolved|team-am", "sent", 1),
        (f"{firing.alert_key}|team-am", "sent", 1),
    ]
    assert len(smtp_sink.messages()) == 2  # the email is unchanged: firing and resolved


async def test_webhook_is_sent_once_across_two_processes_and_dead_lettered_on_final_failure(
    alerting_settings: Settings, smtp_sink: SmtpSink, mongo: Mongo
) -> None:
    with receiver_server(secret=SECRET) as hook:
        receiver = ReceiverConfig(
            name="ops-hook", kind="webhook", url=SecretStr(hook.url()), secret=SecretStr(SECRET)
        )
        settings = with_receivers(alerting_settings, receiver).model_copy(update={"send_attempts": 2})
        first = InProcessAlerting(settings, "owner-1")
        second = InProcessAlerting(settings, "owner-2")
        a = make_alert("10.9.1.1")
        try:
            await first.feed(a)
            await second.feed(a)
            # even asked directly, the second process's receiver fence finds the delivery done
            assert second.stages.receivers is not None
            delivery = AlertDelivery(a, "alerts", 0, 9, a.subject.encode(), dumps(a))
            await second.stages.receivers.deliver(delivery, second.stages.receivers.receivers)
            assert [r.status for r in hook.received] == [200]  # signature verified by the server

            hook.script = [500, 500]
            doomed = make_alert("10.9.1.2")
            await first.feed(doomed)
            assert [r.status for r in hook.received] == [200, 500, 500]
        finally:
            await first.close()
            await second.close()
    done = mongo.db.receiver_deliveries.find_one({"_id": f"{doomed.alert_key}|ops-hook"})
    assert done is not None and (done["status"], done["attempts"]) == ("failed", 2)
    (letter,) = list(mongo.db.dead_letters.find({"receiver": "ops-hook"}))
    assert letter["_id"] == "alerts:0:2|ops-hook" and letter["alert_key"] == doomed.alert_key
    assert "email_id" not in letter  # `failstream alerts redrive` never emails it
    assert "HTTP 500" in letter["error"]
    assert len(smtp_sink.messages()) == 2  # both alerts were emailed all the same

"""Enforcement end to end: an IP crosses the threshold, and the running demo service refuses it.

The real processes (stream worker, alerting, the demo service with
``FAILSTREAM_ENFORCE=true``) on the real Kafka and FerretDB: the alert
becomes a decision, the relay publishes it on the test's compacted decisions
topic, and the middleware's copy refuses the IP before the app runs, while
another IP is still served. The refused requests are stored with reason
``blocked`` and do not count toward new alerts.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from pymongo import MongoClient

from failstream.kafka_config import ensure_topics
from failstream.settings import Settings
from tests.integration.services import ProcessGroup, SmtpSink, wait_until

pytestmark = pytest.mark.integration

ATTACKER, OTHER = "127.0.0.2", "127.0.0.3"


def submit(demo_url: str, source_ip: str, token: str) -> httpx.Response:
    transport = httpx.HTTPTransport(local_address=source_ip)
    with httpx.Client(transport=transport, timeout=5) as client:
        return client.post(f"{demo_url}/api/submit", headers={"Authorization": f"Bearer {token}"}, json={})


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_an_ip_crossing_the_threshold_is_refused_by_the_running_middleware_and_blocked_requests_do_not_alert(
    settings: Settings, smtp_sink: SmtpSink, processes: ProcessGroup
) -> None:
    settings = settings.model_copy(
        update={
            "smtp_port": smtp_sink.port,
            "group_wait_s": 0.0,
            "enforce": True,
            "topic_decisions": f"{settings.topic_alerts}-decisions",
            "decision_sweep_s": 0.5,
        }
    )
    ensure_topics(settings)
    for name in ("stream", "alerting", "demo-app"):
        processes.start(name, name, settings)
    demo_url = f"http://127.0.0.1:{settings.demo_port}"
    wait_until(lambda: _answers(f"{demo_url}/healthz"), 30, "the demo service")
    valid = settings.demo_tokens[0].get_secret_value()

    statuses = [
        submit(demo_url, ATTACKER, f"wrong-{i}").status_code for i in range(settings.rule_ip_threshold)
    ]
    crossed = time.monotonic()
    assert statuses == [401] * settings.rule_ip_threshold
    # a valid request is no failure: waiting with it counts nothing toward the route rule
    wait_until(lambda: submit(demo_url, ATTACKER, valid).status_code == 429, 60, "the attacker refused")
    print(f"threshold crossed -> refused by the middleware: {time.monotonic() - crossed:.2f} s")

    refused = submit(demo_url, ATTACKER, valid)
    assert refused.status_code == 429
    assert 590 <= int(refused.headers["Retry-After"]) <= 600  # the rule's window: 600 s
    assert submit(demo_url, OTHER, valid).status_code == 200
    assert submit(demo_url, OTHER, "wrong").status_code == 401  # served by the app, as before

    # past the route rule's threshold (20), all refused: stored as blocked, never alerted
    blocked = [submit(demo_url, ATTACKER, f"wrong-again-{i}").status_code for i in range(25)]
    assert blocked == [429] * 25
    client: MongoClient[dict[str, Any]] = MongoClient(settings.mongo_uri.get_secret_value())
    try:
        db = client[settings.mongo_db]
        wait_until(
            lambda: db.failures.count_documents({"ip": ATTACKER, "reason": "blocked"}) >= 25,
            60,
            "the blocked requests stored",
        )
        stored = db.failures.find_one({"ip": ATTACKER, "reason": "blocked"})
        assert stored is not None and stored["status"] == 429
        rules = sorted({a["rule"] for a in db.alerts.find({"subject": {"$regex": f"^{ATTACKER}"}})})
        assert rules == ["ip-failures"]
        decision = db.decisions.find_one({"_id": ATTACKER})
        assert decision is not None and decision["active"] and decision["rule"] == "ip-failures"
    finally:
        client.drop_database(settings.mongo_db)
        client.close()

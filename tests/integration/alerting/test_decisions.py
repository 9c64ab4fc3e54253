"""Firing alerts become decisions on FerretDB, relayed in order onto a compacted Kafka topic."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient, ConfigResource

from failstream.alerting.decision_expiry import expire_decisions
from failstream.decisions.feed import read_page
from failstream.decisions.model import Decision
from failstream.events import now_ms
from failstream.kafka_config import confluent_config, ensure_topics
from failstream.settings import Settings
from tests.integration.alerting.harness import InProcessAlerting, Mongo, make_alert

pytestmark = pytest.mark.integration


@pytest.fixture
def decision_settings(alerting_settings: Settings) -> Settings:
    """The test's own decisions topic, and an allowlisted network."""
    settings = alerting_settings.model_copy(
        update={
            "topic_decisions": f"{alerting_settings.topic_alerts}-decisions",
            "allowlist": ("10.40.9.0/24",),
            "decision_durations_s": {"ip-failures": 3600},
            "decision_sweep_s": 0.2,
        }
    )
    ensure_topics(settings)
    return settings


def read_topic(settings: Settings, until: Any, timeout_s: float = 20) -> list[tuple[str, bytes | None]]:
    """(key, value) of the decisions topic from the start, until ``until(records)`` holds."""
    consumer = Consumer(
        {
            **confluent_config(settings),
            "group.id": f"{settings.topic_decisions}-reader-{time.monotonic_ns()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([settings.topic_decisions])
    records: list[tuple[str, bytes | None]] = []
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not until(records):
            msg = consumer.poll(0.2)
            if msg is None or msg.error():
                continue
            records.append((msg.key().decode(), msg.value()))  # type: ignore[union-attr]
    finally:
        consumer.close()
    assert until(records), f"the decisions topic holds {records}"
    return records


def latest(records: list[tuple[str, bytes | None]]) -> dict[str, Decision | None]:
    out: dict[str, Decision | None] = {}
    for key, value in records:
        out[key] = None if value is None else Decision.model_validate_json(value)
    return out


async def test_firing_alerts_become_decisions_except_allowlisted_silenced_and_non_ip_subjects(
    decision_settings: Settings, mongo: Mongo
) -> None:
    mongo.db.silences.insert_one({"_id": "s", "subject": "10.40.0.4", "until": now_ms() + 60_000})
    alerting = InProcessAlerting(decision_settings, "test-owner")
    fired = make_alert("10.40.0.1")
    try:
        await alerting.feed(fired)
        await alerting.feed(fired)  # re-delivered: the same decision, no second change
        await alerting.feed(make_alert("10.40.9.7"))  # allowlisted
        await alerting.feed(make_alert("mail.example.com", rule="email-delivery"))
        await alerting.feed(make_alert("10.40.0.4"))  # silenced
        route = make_alert(
            "10.40.0.4 POST /api/submit", rule="ip-route-failures", alert_key="route:10.40.0.4"
        )
        await alerting.feed(route)  # its IP is silenced: no decision either
        other_route = make_alert("10.40.0.5 POST /api/submit", rule="ip-route-failures", alert_key="r5")
        await alerting.feed(other_route)
        page = await read_page(alerting.stages.relay.store, None, 50, now_ms())  # type: ignore[union-attr]
    finally:
        await alerting.close()
    decided = {d.subject: d for d in page.added}
    assert sorted(decided) == ["10.40.0.1", "10.40.0.5"]
    assert decided["10.40.0.1"].until == fired.ts + 3_600_000  # the rule's setting
    assert decided["10.40.0.5"].until == other_route.ts + 600_000  # the rule's window
    assert decided["10.40.0.1"].alert_key == fired.alert_key
    assert mongo.db.decision_changes.count_documents({"subject": "10.40.0.1"}) == 1


async def test_the_relay_publishes_decisions_and_tombstones_on_a_compacted_topic(
    decision_settings: Settings, mongo: Mongo
) -> None:
    settings = decision_settings.model_copy(update={"decision_durations_s": {}})  # each rule's window
    alerting = InProcessAlerting(settings, "test-owner")
    relay = alerting.stages.relay
    assert relay is not None
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(relay.run(stop)),
        asyncio.create_task(
            expire_decisions(relay.store, alerting.stages.mongo, now_ms, 0.2, stop, relay.wake)
        ),
    ]
    try:
        await alerting.feed(make_alert("10.40.1.1"))
        await alerting.feed(make_alert("10.40.1.2", window_s=1))  # decided for its window: 1 s
        await asyncio.to_thread(
            read_topic, decision_settings, lambda r: {"10.40.1.1", "10.40.1.2"} <= {k for k, v in r if v}
        )
        assert await relay.store.lift("10.40.1.1", now_ms(), by="test")
        relay.wake()
        records = await asyncio.to_thread(
            read_topic,
            decision_settings,
            lambda r: latest(r).get("10.40.1.1", 0) is None and latest(r).get("10.40.1.2", 0) is None,
        )
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        await alerting.close()
    assert latest(records) == {"10.40.1.1": None, "10.40.1.2": None}  # lifted; expired after its second
    ended = mongo.db.decisions.find_one({"_id": "10.40.1.2"})
    assert ended is not None and (ended["active"], ended["ended_by"]) == (False, "expired")
    admin = AdminClient(confluent_config(decision_settings))
    resource = ConfigResource("topic", decision_settings.topic_decisions)
    config = admin.describe_configs([resource])[resource].result(timeout=10)
    assert config["cleanup.policy"].value == "compact"


async def test_two_alerts_deciding_a_new_subject_at_once_leave_one_decision_with_the_longer_expiry(
    decision_settings: Settings, mongo: Mongo
) -> None:
    from pymongo import AsyncMongoClient

    from failstream.decisions.store import DecisionStore

    uri = decision_settings.mongo_uri.get_secret_value()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri)
    store = DecisionStore(client[decision_settings.mongo_db])
    now = now_ms()
    subjects = [f"10.41.0.{i}" for i in range(1, 21)]
    try:
        for ip in subjects:  # the ip and the ip-route alert of one storm, decided together
            shorter, longer = (
                Decision(subject=ip, kind="ip", rule=r, alert_key=f"{r}:{ip}", until=u, decided_at=now)
                for r, u in (("ip-failures", now + 60_000), ("ip-route-failures", now + 90_000))
            )
            # the longer always changes the decision; the shorter does unless the longer was stored
            # before it looked (then nothing changes for it, and it says so)
            _, longer_recorded = await asyncio.gather(store.record(shorter, now), store.record(longer, now))
            assert longer_recorded
    finally:
        await client.close()
    docs = {d["_id"]: d for d in mongo.db.decisions.find({"_id": {"$in": subjects}})}
    assert sorted(docs) == sorted(subjects)
    assert all(d["active"] and d["until"] == now + 90_000 for d in docs.values())

"""Retention sweeps on the real MongoDB-compatible server: each collection keeps its configured days."""

from __future__ import annotations

from typing import Any

import pytest

from failstream.events import EmailEvent, FailedRequest, new_event_id, now_ms
from failstream.settings import Settings
from failstream.stream_app.mongo.client import connect, ensure_indexes
from failstream.stream_app.mongo.emails import persist_email_counts
from failstream.stream_app.mongo.failures import Read, persist_failures
from failstream.stream_app.mongo.retention import sweep_all
from tests.integration.services import ProcessGroup, free_port, wait_until

pytestmark = pytest.mark.integration

NOW = 1_800_000_000_000
DAY = 86_400_000


def _failure(ts: int, ip: str, offset: int) -> Read:
    event = FailedRequest(
        event_id=new_event_id(),
        ts=ts,
        service="demo",
        ip=ip,
        method="POST",
        route="/api/submit",
        status=401,
        reason="invalid_token",
    )
    return Read(event, partition=0, offset=offset)


def _email(ts: int, offset: int) -> tuple[EmailEvent, int, int]:
    event = EmailEvent(
        event_id=new_event_id(),
        ts=ts,
        service="shop",
        message_id="<m>",
        recipient_domain="a.b",
        status="sent",
    )
    return event, 0, offset


async def test_sweep_deletes_minute_counts_ip_stats_dead_letters_and_email_ids_past_their_retention(
    settings: Settings, db: Any
) -> None:
    adb = connect(settings)
    await ensure_indexes(adb)
    # an address last seen 40 days ago, one seen 20 days ago, one seen now (written as the worker does)
    await persist_failures(
        adb,
        [
            _failure(NOW - 40 * DAY, "2001:db8::40", 0),
            _failure(NOW - 20 * DAY, "2001:db8::20", 1),
            _failure(NOW - 60_000, "203.0.113.1", 2),
        ],
    )
    # a minute 100 days old (a 90-day window never reads it) next to the ones above
    await adb.minute_counts.insert_one({"_id": "old-minute", "source": "failures", "minute": NOW - 100 * DAY})
    await adb.dead_letters.insert_many(
        [
            {"_id": "t:0:1", "ts": NOW - 31 * DAY, "source_topic": "t", "partition": 0, "offset": 1},
            {"_id": "t:0:2", "ts": NOW - 29 * DAY, "source_topic": "t", "partition": 0, "offset": 2},
        ]
    )
    # email ids live as long as the minute counts they guard (91 days)
    await persist_email_counts(adb, [_email(NOW - 92 * DAY, 0), _email(NOW - 40 * DAY, 1)])

    deleted = await sweep_all(adb, NOW, settings)

    assert deleted == {
        "failures": 1,
        "minute_counts": 2,
        "ip_stats": 1,
        "dead_letters": 1,
        "email_event_ids": 1,
    }
    assert sorted([d["_id"] async for d in adb.ip_stats.find({}, {"_id": 1})]) == [
        "2001:db8::20",
        "203.0.113.1",
    ]
    minutes = sorted([d["minute"] async for d in adb.minute_counts.find({}, {"minute": 1})])
    assert minutes[0] == (NOW - 40 * DAY) // 60_000 * 60_000  # 40 days < 91: still read by /stats
    assert [d["_id"] async for d in adb.dead_letters.find({}, {"_id": 1})] == ["t:0:2"]
    assert await sweep_all(adb, NOW, settings) == dict.fromkeys(deleted, 0)
    await adb.client.close()


async def test_each_retention_is_its_own_setting(settings: Settings, db: Any) -> None:
    adb = connect(settings)
    await persist_failures(adb, [_failure(NOW - 3 * DAY, "198.51.100.3", 0)])
    await persist_email_counts(adb, [_email(NOW - 3 * DAY, 0)])
    short = settings.model_copy(
        update={
            "failures_retention_days": 10,
            "minute_counts_retention_days": 2,
            "ip_stats_retention_days": 10,
            "dead_letters_retention_days": 10,
        }
    )
    assert await sweep_all(adb, NOW, short) == {
        "failures": 0,
        "minute_counts": 2,
        "ip_stats": 0,
        "dead_letters": 0,
        "email_event_ids": 1,
    }
    await adb.client.close()


def test_the_running_stream_worker_sweeps_every_collection_on_its_schedule(
    settings: Settings, db: Any, processes: ProcessGroup
) -> None:
    now = now_ms()
    db.ip_stats.insert_many(
        [
            {"_id": "2001:db8::dead", "total": 1, "last_seen": now - 40 * DAY},
            {"_id": "203.0.113.2", "last_seen": now},
        ]
    )
    db.minute_counts.insert_one({"_id": "ancient", "source": "failures", "minute": now - 100 * DAY})
    db.dead_letters.insert_one({"_id": "t:0:9", "ts": now - 31 * DAY, "source_topic": "t"})
    db.failures.insert_one({"_id": "old-event", "ts": now - 31 * DAY})
    db.email_event_ids.insert_one({"_id": "old-email-event", "ts": now - 92 * DAY})
    worker = settings.model_copy(
        update={
            "stream_retention_sweep_s": 1.0,
            "metrics_stream_port": free_port(),
            "metrics_persister_port": free_port(),
        }
    )
    processes.start("stream", "stream", worker)

    def swept() -> bool:
        return (
            db.ip_stats.count_documents({}) == 1
            and db.minute_counts.count_documents({"_id": "ancient"}) == 0
            and db.dead_letters.count_documents({}) == 0
            and db.failures.count_documents({}) == 0
            and db.email_event_ids.count_documents({}) == 0
        )

    wait_until(swept, 120, "the persister's retention sweep")
    assert db.ip_stats.find_one({"_id": "203.0.113.2"}) is not None
    wait_until(lambda: "retention: deleted" in processes.log("stream"), 10, "the sweep's log line")
    line = next(x for x in processes.log("stream").splitlines() if "retention: deleted" in x)
    for part in ("1 failures", "1 minute_counts", "1 ip_stats", "1 dead_letters", "1 email_event_ids"):
        assert part in line, line

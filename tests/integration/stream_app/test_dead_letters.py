"""Malformed messages go to dead letters, the worker keeps going, and redrive re-publishes."""

from __future__ import annotations

import base64
import json
import os
import random
import subprocess
import sys
from collections import Counter
from typing import Any

import orjson
import pytest

from failstream.events import TS_MAX_MS, TS_MIN_MS, DeadLetter, new_event_id, now_ms
from failstream.settings import Settings
from tests.integration.services import ProcessGroup, wait_until
from tests.integration.stream_app.checks import counts
from tests.integration.stream_app.kafka_io import failure_json, produce, read_all

pytestmark = pytest.mark.integration


def malformed(i: int, rng: random.Random) -> tuple[str, bytes]:
    kind = ("not JSON", "not a JSON object", "schema", "unknown schema version", "empty")[i % 5]
    good = orjson.loads(failure_json(new_event_id(), "10.9.9.9", now_ms()))
    value = {
        "not JSON": b"\xff{not json " + str(rng.random()).encode(),
        "not a JSON object": orjson.dumps([1, 2, i]),
        "schema": orjson.dumps({**good, "reason": "because"}),
        "unknown schema version": orjson.dumps({**good, "v": 2}),
        "empty": b"",
    }[kind]
    return kind, value


def test_ten_thousand_malformed_messages_are_dead_lettered_and_every_valid_one_counted(
    settings: Settings, processes: ProcessGroup, db: Any
) -> None:
    rng = random.Random(4)
    messages: list[tuple[bytes | None, bytes]] = []
    kinds: Counter[str] = Counter()
    valid_per_ip: Counter[str] = Counter()
    for i in range(12_000):
        if i % 6 == 0:
            ip = f"10.8.0.{rng.randint(1, 40)}"
            valid_per_ip[ip] += 1
            messages.append((ip.encode(), failure_json(new_event_id(), ip, now_ms())))
        else:
            kind, value = malformed(i, rng)
            kinds[kind] += 1
            messages.append((b"10.9.9.9", value))
    assert sum(kinds.values()) == 10_000
    rng.shuffle(messages)

    worker = processes.start("stream", "stream", settings)
    produce(settings, settings.topic_failed_requests, messages)

    wait_until(lambda: db.dead_letters.count_documents({}) == 10_000, 120, "10 000 dead letters stored")
    wait_until(lambda: counts(db)["by_ip"] == valid_per_ip, 60, "every valid failure counted")
    assert worker.poll() is None, "the worker died"
    assert counts(db)["failures"] == 2_000

    errors = Counter(d["error"].split(":")[0].split(" v=")[0] for d in db.dead_letters.find({}, {"error": 1}))
    assert errors == {
        "not JSON": kinds["not JSON"],
        "not a JSON object": kinds["not a JSON object"],
        "schema": kinds["schema"],
        "unknown schema version": kinds["unknown schema version"],
        "empty message": kinds["empty"],
    }
    # the topic is written by the detection process, the collection by the persister: either may lead
    on_topic: list[tuple[bytes | None, bytes]] = []

    def all_on_topic() -> bool:
        on_topic[:] = read_all(settings, settings.topic_dead_letters)
        return len(on_topic) >= 10_000

    wait_until(all_on_topic, 60, "10 000 dead letters on the topic")
    assert len(on_topic) == 10_000
    letter = DeadLetter.model_validate_json(on_topic[0][1])
    assert letter.source_topic == settings.topic_failed_requests
    assert on_topic[0][0] == b"10.9.9.9"  # keyed by the original key
    assert db.dead_letters.find_one({"_id": f"{letter.source_topic}:{letter.partition}:{letter.offset}"})


def test_redrive_republishes_pending_letters_to_their_source_topic_once(
    settings: Settings, processes: ProcessGroup, db: Any
) -> None:
    # a valid failure that an older, buggy worker had dead-lettered
    value = failure_json(new_event_id(), "10.7.0.1", now_ms())
    db.dead_letters.insert_one(
        {
            "_id": f"{settings.topic_failed_requests}:0:41",
            **DeadLetter(
                ts=now_ms(),
                source_topic=settings.topic_failed_requests,
                partition=0,
                offset=41,
                key_b64=base64.b64encode(b"10.7.0.1").decode(),
                value_b64=base64.b64encode(value).decode(),
                error="schema: bug fixed since",
            ).model_dump(),
        }
    )
    processes.start("stream", "stream", settings)
    env = {**settings.as_env()}

    def redrive() -> str:
        done = subprocess.run(
            [sys.executable, "-m", "failstream.cli", "dead-letters", "redrive"],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "re-drove 1 dead letters" in redrive()
    wait_until(lambda: counts(db)["by_ip"] == {"10.7.0.1": 1}, 60, "the re-driven failure counted")
    assert db.dead_letters.find_one({"_id": f"{settings.topic_failed_requests}:0:41"})["redriven_at"] > 0
    assert "re-drove 0 dead letters" in redrive()


def _json(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode()  # orjson refuses ints past 64 bits, which is the point here


def _out_of_range() -> dict[str, dict[str, Any]]:
    """Events that parse as JSON and look right, with one field out of the schema's range each."""
    good = orjson.loads(failure_json(new_event_id(), "10.9.9.8", now_ms()))
    return {
        "ts before 2000": {**good, "ts": TS_MIN_MS - 1},
        "ts in 1970": {**good, "ts": 0},
        "ts from 2100 on": {**good, "ts": TS_MAX_MS},
        "ts past int64": {**good, "ts": 10**30},
        "method too long": {**good, "method": "M" * 17},
        "route of 200 kB": {**good, "route": "/r" * 100_000},
        "user agent of 300 kB": {**good, "user_agent": "u" * 300_000},
        "event id too long": {**good, "event_id": "e" * 10_000},
        "status past 599": {**good, "status": 10**20},
    }


def test_out_of_range_events_are_dead_lettered_and_the_valid_ones_around_them_counted(
    settings: Settings, processes: ProcessGroup, db: Any
) -> None:
    bad = _out_of_range()
    valid_per_ip: Counter[str] = Counter()
    messages: list[tuple[bytes | None, bytes]] = []
    for round_ in range(3):
        for i, event in enumerate(bad.values()):
            ip = f"10.8.1.{i}"
            valid_per_ip[ip] += 1
            messages.append((ip.encode(), failure_json(new_event_id(), ip, now_ms())))
            messages.append((b"10.9.9.8", _json({**event, "event_id": f"{round_}-{event['event_id']}"})))
    emails_bad = [
        {"event_id": new_event_id(), "ts": 0, "service": "mail", "message_id": "<a@x>",
         "recipient_domain": "x.org", "status": "sent"},
        {"event_id": new_event_id(), "ts": now_ms(), "service": "mail", "message_id": "<b@x>",
         "recipient_domain": "x.org", "status": "sent", "attempt": 10**30},
    ]  # fmt: skip

    worker = processes.start("stream", "stream", settings)
    produce(settings, settings.topic_failed_requests, messages)
    produce(settings, settings.topic_email_events, [(b"x.org", _json(e)) for e in emails_bad])

    expected_letters = 3 * len(bad) + len(emails_bad)
    wait_until(
        lambda: db.dead_letters.count_documents({}) == expected_letters,
        120,
        "every out-of-range event dead-lettered",
    )
    wait_until(lambda: counts(db)["by_ip"] == valid_per_ip, 60, "every valid failure counted")
    assert worker.poll() is None, "the worker died"
    assert counts(db)["failures"] == sum(valid_per_ip.values())
    sources = Counter(d["source_topic"] for d in db.dead_letters.find({}, {"source_topic": 1}))
    assert sources == {
        settings.topic_failed_requests: 3 * len(bad),
        settings.topic_email_events: len(emails_bad),
    }
    assert all(d["error"].startswith("schema: ") for d in db.dead_letters.find({}, {"error": 1}))

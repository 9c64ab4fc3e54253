"""Failures the spool published again alert once, at the count of distinct events."""

from __future__ import annotations

import signal
from typing import Any

import pytest

from failstream.events import new_event_id, now_ms
from failstream.settings import Settings
from tests.integration.services import ProcessGroup, wait_until
from tests.integration.stream_app.checks import alerts_on_topic, counts
from tests.integration.stream_app.kafka_io import failure_json, produce, read_all
from tests.integration.stream_app.test_address_rotation import committed_to_the_end

pytestmark = pytest.mark.integration

IP = "198.51.100.19"


@pytest.mark.parametrize("restart", [False, True], ids=["same-worker", "after-a-restart"])
def test_six_failures_and_their_replayed_copies_stay_below_ten_and_the_tenth_distinct_one_fires_once(
    settings: Settings, processes: ProcessGroup, db: Any, restart: bool
) -> None:
    settings = settings.model_copy(update={"rule_ip_threshold": 10})
    topic, key, ts = settings.topic_failed_requests, IP.encode(), now_ms()
    # distinct routes keep the per-route rule (threshold 20) out of it
    six = [(key, failure_json(new_event_id(), IP, ts + i * 1000, route=f"/r{i}")) for i in range(6)]
    processes.start("stream", "stream", settings)
    produce(settings, topic, six)
    wait_until(lambda: counts(db)["failures"] == 6, 60, "the six failures stored")
    group = settings.stream_app_id
    if restart:
        # committed, so the new worker reads none of the six again: it knows their ids
        # only from the detection state it restores from the changelog
        wait_until(lambda: committed_to_the_end(settings, topic, group), 60, "the six committed")
        processes.kill("stream", signal.SIGTERM)
        processes.start("stream-restarted", "stream", settings)

    produce(settings, topic, six)  # the same bytes again: new offsets, the same event ids
    assert len(read_all(settings, topic)) == 12
    wait_until(lambda: committed_to_the_end(settings, topic, group), 90, "the copies read and committed")
    assert alerts_on_topic(settings) == []  # counted as copies, the fourth would have made ten

    four = [
        (key, failure_json(new_event_id(), IP, ts + (6 + i) * 1000, route=f"/r{6 + i}")) for i in range(4)
    ]
    produce(settings, topic, four)
    wait_until(lambda: len(alerts_on_topic(settings)) >= 1, 90, "the IP's alert")
    [alert] = alerts_on_topic(settings)
    assert (alert.rule, alert.subject, alert.state, alert.count) == ("ip-failures", IP, "firing", 10)
    assert (alert.first_seen, alert.last_seen) == (ts, ts + 9000)
    wait_until(lambda: counts(db)["failures"] == 10, 60, "the ten distinct failures stored")

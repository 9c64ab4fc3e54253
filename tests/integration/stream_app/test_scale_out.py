"""Two workers in one group share the partitions and give what one worker gives."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from failstream.events import new_event_id, now_ms
from failstream.settings import Settings
from tests.integration.services import ProcessGroup, wait_until
from tests.integration.stream_app.checks import alerts_on_topic, as_expected, counts, messages_per_key
from tests.integration.stream_app.kafka_io import failure_json, produce
from tests.integration.stream_app.test_oracle import RULES, oracle_for
from tests.unit.stream_app.traces import failure_trace

pytestmark = pytest.mark.integration


def test_two_workers_in_one_group_give_the_oracles_alerts_once_and_exact_counts(
    settings: Settings, processes: ProcessGroup, db: Any
) -> None:
    settings = settings.model_copy(update=RULES)
    trace = failure_trace(31, ips=200, base_ts=now_ms() + 86_400_000, grace_ms=60_000, window_ms=600_000)
    expected = oracle_for(trace)
    processes.start("stream-a", "stream", settings)
    processes.start("stream-b", "stream", settings)
    wait_until(
        lambda: all("Ready" in processes.log(n) for n in ("stream-a", "stream-b")), 60, "both workers ready"
    )
    produce(
        settings,
        settings.topic_failed_requests,
        (
            (ip.encode(), failure_json(new_event_id(), ip, ts, method, route))
            for ip, ts, method, route in trace
        ),
    )
    sent_per_ip = Counter(ip for ip, *_ in trace)
    wait_until(lambda: counts(db)["by_ip"] == sent_per_ip, 120, "per-IP totals")
    wait_until(lambda: counts(db)["minutes"] == len(trace), 30, "per-minute totals")
    wait_until(lambda: len(alerts_on_topic(settings)) >= len(expected), 30, f"{len(expected)} alerts")

    alerts = alerts_on_topic(settings)
    assert as_expected(alerts) == expected
    assert {k: n for k, n in messages_per_key(alerts).items() if n > 1} == {}
    sent = "alert(s) sent to Kafka"
    assert sent in processes.log("stream-a") and sent in processes.log("stream-b"), "one worker idle"

"""Seeded traces through the real worker give exactly the alerts a brute-force oracle computes."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from failstream.events import new_event_id, now_ms
from failstream.settings import Settings
from tests.integration.services import ProcessGroup, wait_until
from tests.integration.stream_app.checks import alerts_on_topic, as_expected, counts, messages_per_key
from tests.integration.stream_app.kafka_io import failure_json, produce
from tests.unit.stream_app.oracle import seeded_trace_oracle
from tests.unit.stream_app.traces import failure_trace

pytestmark = pytest.mark.integration

MIN = 60_000
RULES = {
    "rule_ip_threshold": 5,
    "rule_ip_window_s": 600,
    "rule_ip_route_threshold": 4,
    "rule_ip_route_window_s": 300,
    "repeat_interval_s": 900,
    "grace_s": 60,
}


def oracle_for(trace: list[tuple[str, int, str, str]]) -> set:
    return seeded_trace_oracle(trace)


def test_seeded_traces_through_the_worker_give_the_oracles_alerts_and_exact_counts(
    settings: Settings, processes: ProcessGroup, db: Any
) -> None:
    settings = settings.model_copy(update=RULES)
    # event times a day ahead: the wall-clock sweep never resolves an episode
    # during the test, so every resolution comes from event time, as in the oracle
    base = now_ms() + 86_400_000
    trace = failure_trace(11, ips=250, base_ts=base, grace_ms=MIN, window_ms=10 * MIN, events_per_ip=30)
    expected = oracle_for(trace)
    assert {e.state for e in expected} == {"firing", "renotify", "resolved"}

    processes.start("stream", "stream", settings)
    produce(
        settings,
        settings.topic_failed_requests,
        (
            (ip.encode(), failure_json(new_event_id(), ip, ts, method, route))
            for ip, ts, method, route in trace
        ),
    )

    wait_until(lambda: counts(db)["failures"] == len(trace), 90, f"{len(trace)} failures stored")
    wait_until(lambda: len(alerts_on_topic(settings)) >= len(expected), 60, f"{len(expected)} alerts")
    sent_per_ip = Counter(ip for ip, *_ in trace)
    wait_until(lambda: counts(db)["by_ip"] == sent_per_ip, 30, "per-IP totals")
    wait_until(lambda: counts(db)["minutes"] == len(trace), 30, "per-minute totals")

    alerts = alerts_on_topic(settings)
    assert as_expected(alerts) == expected
    assert max(messages_per_key(alerts).values()) == 1
    final = counts(db)
    assert (final["failures"], final["minutes"], final["by_ip"]) == (len(trace), len(trace), sent_per_ip)

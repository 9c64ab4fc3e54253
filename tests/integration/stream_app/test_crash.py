"""A worker SIGKILLed mid-stream and restarted leaves exact counts and no duplicate alert."""

from __future__ import annotations

import signal
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


def test_sigkill_mid_stream_then_restart_counts_every_failure_once_and_alerts_once(
    settings: Settings, processes: ProcessGroup, db: Any
) -> None:
    # small batches, for detection and persistence alike: the kill must land mid-stream
    small = {"stream_batch_max": 200, "stream_persist_batch_max": 200}
    settings = settings.model_copy(update={**RULES, "stream_session_timeout_s": 6, **small})
    trace = failure_trace(23, ips=400, base_ts=now_ms() + 86_400_000, grace_ms=60_000, window_ms=600_000)
    expected = oracle_for(trace)
    processes.start("stream", "stream", settings)
    produce(
        settings,
        settings.topic_failed_requests,
        (
            (ip.encode(), failure_json(new_event_id(), ip, ts, method, route))
            for ip, ts, method, route in trace
        ),
    )
    wait_until(lambda: counts(db)["failures"] >= len(trace) // 4, 60, "a quarter of the failures stored")
    processes.kill("stream", signal.SIGKILL)
    stored_at_kill = counts(db)["failures"]
    assert stored_at_kill < len(trace), "killed too late to prove anything"

    processes.start("stream-restarted", "stream", settings)
    sent_per_ip = Counter(ip for ip, *_ in trace)
    wait_until(lambda: counts(db)["by_ip"] == sent_per_ip, 120, "per-IP totals after the restart")
    wait_until(lambda: counts(db)["minutes"] == len(trace), 30, "per-minute totals after the restart")
    try:
        wait_until(lambda: len(alerts_on_topic(settings)) >= len(expected), 30, f"{len(expected)} alerts")
    except AssertionError:
        missing = expected - as_expected(alerts_on_topic(settings))
        # the restarted worker's own story (rebalances, warnings), without its alert lines
        log = processes.log("stream-restarted").splitlines()
        story = [line for line in log if "alert(s) sent to Kafka" not in line]
        shown = sorted(map(str, missing))[:5]
        raise AssertionError(
            f"{len(missing)} alerts missing, e.g. {shown}\n" + "\n".join(story[-60:])
        ) from None

    alerts = alerts_on_topic(settings)
    assert as_expected(alerts) == expected
    assert {k: n for k, n in messages_per_key(alerts).items() if n > 1} == {}
    assert counts(db)["failures"] == len(trace)

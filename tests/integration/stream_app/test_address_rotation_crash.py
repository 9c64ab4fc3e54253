"""A worker SIGKILLed while prefixes are being counted alerts each rotating /64 once after its restart.

The kill lands between forwarding and committing: the restarted worker
forwards part of the stream again and re-reads part of its repartition
topic. Each /64 that reached the threshold must fire exactly once, with one
alert key, and no other /64 may fire. The second half of the stream is
produced only after the kill, so some /64s are certain to fire after the
restart however fast the first worker was.
"""

from __future__ import annotations

import signal
from collections import Counter
from collections.abc import Callable

import pytest

from failstream.events import Alert, new_event_id, now_ms
from failstream.settings import Settings
from tests.integration.services import ProcessGroup, wait_until
from tests.integration.stream_app.checks import alerts_on_topic
from tests.integration.stream_app.kafka_io import failure_json, produce

pytestmark = pytest.mark.integration

PREFIXES = 400
BLOCK = 40  # prefixes produced together, block after block: the first alerts come early in the stream


def failures_of(k: int) -> int:
    """12 failures (over the threshold of 10) for even prefixes, 8 for odd ones, each from a new address."""
    return 12 if k % 2 == 0 else 8


def rotating_stream() -> tuple[list[tuple[bytes, bytes]], set[str]]:
    """The failures, block after block, and the /64s that must fire."""
    base = now_ms() + 86_400_000  # event time ahead of the wall clock: no sweep resolves or forgets meanwhile
    messages: list[tuple[bytes, bytes]] = []
    for first in range(0, PREFIXES, BLOCK):
        for j in range(12):
            for k in range(first, first + BLOCK):
                if j < failures_of(k):
                    ip = f"2001:db8:{k:x}:1:{j + 1:x}::1"
                    messages.append((ip.encode(), failure_json(new_event_id(), ip, base + j * 1000 + k)))
    return messages, {f"2001:db8:{k:x}:1::/64" for k in range(PREFIXES) if failures_of(k) >= 10}


def wait_for_every_alert(settings: Settings, should_fire: set[str], log_tail: Callable[[], str]) -> None:
    """Until every /64 that must fire has; a timeout names the missing ones and the worker's log."""
    try:
        wait_until(
            lambda: {a.subject for a in alerts_on_topic(settings)} >= should_fire,
            120,
            "every rotating /64 alerted",
        )
    except AssertionError as exc:
        missing = sorted(should_fire - {a.subject for a in alerts_on_topic(settings)})
        raise AssertionError(f"{exc}: {len(missing)} missing, {missing[:5]}\n{log_tail()}") from None


def assert_each_fired_once(alerts: list[Alert], should_fire: set[str], log_tail: str) -> None:
    assert {a.subject for a in alerts} == should_fire
    assert {(a.rule, a.state) for a in alerts} == {("prefix-failures", "firing")}
    keys_per_subject = Counter(a.subject for a in {a.alert_key: a for a in alerts}.values())
    twice = sorted({a.alert_key for a in alerts if keys_per_subject[a.subject] > 1})
    assert twice == [], log_tail  # one episode, one key, per /64
    assert {k: n for k, n in Counter(a.alert_key for a in alerts).items() if n > 1} == {}  # each sent once


def test_sigkill_while_counting_prefixes_then_restart_fires_each_rotating_64_once(
    settings: Settings, processes: ProcessGroup
) -> None:
    settings = settings.model_copy(
        update={"stream_batch_max": 100, "stream_session_timeout_s": 6, "stream_persist": False}
    )
    messages, should_fire = rotating_stream()

    processes.start("stream", "stream", settings)
    half = len(messages) // 2
    produce(settings, settings.topic_failed_requests, messages[:half])
    wait_until(lambda: len(alerts_on_topic(settings)) >= 1, 60, "a first prefix alert", interval_s=0.1)
    processes.kill("stream", signal.SIGKILL)
    at_kill = {a.subject for a in alerts_on_topic(settings)}
    assert at_kill < should_fire

    produce(settings, settings.topic_failed_requests, messages[half:])
    processes.start("stream-restarted", "stream", settings)
    wait_for_every_alert(settings, should_fire, lambda: processes.tail("stream-restarted", 80))
    assert_each_fired_once(alerts_on_topic(settings), should_fire, processes.tail("stream-restarted", 80))


def test_a_rebalance_then_a_sigkill_while_counting_prefixes_fires_each_rotating_64_once(
    settings: Settings, processes: ProcessGroup
) -> None:
    """A second worker joins while the first counts (a rebalance with records in flight), then the
    first is SIGKILLed and the second takes its partitions over from the committed offsets."""
    settings = settings.model_copy(
        update={"stream_batch_max": 100, "stream_session_timeout_s": 6, "stream_persist": False}
    )
    messages, should_fire = rotating_stream()
    third = len(messages) // 3

    processes.start("stream-a", "stream", settings)
    produce(settings, settings.topic_failed_requests, messages[:third])
    wait_until(lambda: len(alerts_on_topic(settings)) >= 1, 60, "a first prefix alert", interval_s=0.1)
    processes.start("stream-b", "stream", settings)
    produce(settings, settings.topic_failed_requests, messages[third : 2 * third])  # during the rebalance
    wait_until(lambda: "Ready" in processes.log("stream-b"), 60, "the second worker ready")
    processes.kill("stream-a", signal.SIGKILL)
    assert {a.subject for a in alerts_on_topic(settings)} < should_fire

    produce(settings, settings.topic_failed_requests, messages[2 * third :])
    wait_for_every_alert(settings, should_fire, lambda: processes.tail("stream-b", 80))
    assert_each_fired_once(alerts_on_topic(settings), should_fire, processes.tail("stream-b", 80))

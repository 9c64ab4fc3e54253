"""The stream app's counts: per batch, per acknowledged alert, and detection latency."""

from __future__ import annotations

from prometheus_client import REGISTRY

from failstream.events import Alert
from failstream.stream_app import metrics


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _alert(rule: str, state: str, last_seen: int) -> Alert:
    return Alert(
        event_id="e1",
        ts=last_seen,
        alert_key=f"{rule}:s:{last_seen}",
        rule=rule,
        subject="s",
        state=state,  # type: ignore[arg-type]
        episode_start=last_seen - 1000,
        count=5,
        threshold=5,
        window_s=600,
        first_seen=last_seen - 1000,
        last_seen=last_seen,
    )


def test_a_batch_adds_its_processed_and_dead_lettered_events() -> None:
    processed = _value("failstream_stream_events_total", kind="failed_requests", outcome="processed")
    dead = _value("failstream_stream_events_total", kind="failed_requests", outcome="dead_lettered")
    metrics.count_batch(998, 2, failures=True)
    assert (
        _value("failstream_stream_events_total", kind="failed_requests", outcome="processed")
        == processed + 998
    )
    assert (
        _value("failstream_stream_events_total", kind="failed_requests", outcome="dead_lettered") == dead + 2
    )


def test_detection_latency_runs_from_the_firing_failure_to_the_acknowledgement() -> None:
    name = "failstream_stream_detection_latency_seconds"
    count = _value(f"{name}_count", rule="ip-failures")
    total = _value(f"{name}_sum", rule="ip-failures")
    published = _value("failstream_stream_alerts_published_total", rule="ip-failures", state="resolved")
    metrics.observe_published(
        [_alert("ip-failures", "firing", 10_000), _alert("ip-failures", "resolved", 10_000)], now_ms=10_250
    )
    assert _value(f"{name}_count", rule="ip-failures") == count + 1  # a resolved alert is not timed
    assert abs(_value(f"{name}_sum", rule="ip-failures") - total - 0.25) < 1e-9
    assert (
        _value("failstream_stream_alerts_published_total", rule="ip-failures", state="resolved")
        == published + 1
    )


def test_an_alert_whose_last_seen_lies_ahead_is_counted_but_not_timed() -> None:
    name = "failstream_stream_detection_latency_seconds_count"
    before = _value(name, rule="global-spike")
    fired = _value("failstream_stream_alerts_published_total", rule="global-spike", state="firing")
    metrics.observe_published([_alert("global-spike", "firing", 70_000)], now_ms=20_000)
    assert _value(name, rule="global-spike") == before
    assert (
        _value("failstream_stream_alerts_published_total", rule="global-spike", state="firing") == fired + 1
    )

"""Prometheus metrics of the stream worker and its persister child.

The worker is throughput-critical, so nothing here runs per event: the
agents add a batch's counts with one ``inc`` each, alerts (rare) are counted
one by one, consumer lag is read by a thread beside the consumer
(``failstream.metrics.consumer_lag``), and Faust's own monitor, which the
worker keeps anyway, is read at scrape time. Faust's ``PrometheusMonitor``
is not used: it updates several labelled metrics for every message, stream
event and table access, on the loop that detection runs on.

The worker and the persister are separate processes with registries and
ports of their own (``metrics_stream_port``, ``metrics_persister_port``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from faust.sensors.monitor import Monitor
from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from failstream.events import Alert
from failstream.metrics.consumer_lag import report_consumer_lag
from failstream.metrics.http import serve_metrics
from failstream.settings import StreamSettings

EVENTS = Counter(
    "failstream_stream_events_total",
    "Events the detection agents took off Kafka, by kind and outcome (processed, dead_lettered)",
    ["kind", "outcome"],
)
FAILURES_PROCESSED = EVENTS.labels("failed_requests", "processed")
FAILURES_DEAD = EVENTS.labels("failed_requests", "dead_lettered")
EMAILS_PROCESSED = EVENTS.labels("email_events", "processed")
EMAILS_DEAD = EVENTS.labels("email_events", "dead_lettered")

PERSISTED = Counter(
    "failstream_stream_persisted_total",
    "Records the persister wrote to MongoDB (idempotently), by kind",
    ["kind"],
)
PERSISTED_FAILURES = PERSISTED.labels("failures")
PERSISTED_EMAIL_EVENTS = PERSISTED.labels("email_events")
PERSISTED_DEAD_LETTERS = PERSISTED.labels("dead_letters")

# Faust's monitor sees only messages that take its stream path and records its own
# producer sends: the batched failures and the changelog batches bypass both.
BATCHED_TAKEN = Counter(
    "failstream_stream_batched_messages_total",
    "Failed-request messages the worker took off Kafka in batches (not in Faust's monitor)",
)
CHANGELOG_RECORDS = Counter(
    "failstream_stream_changelog_records_total",
    "Detection-state records written to the changelog and acknowledged (not in Faust's monitor)",
)

TASK_STALLS = Counter(
    "failstream_stream_task_stalls_total",
    "Times a worker task stopped coming round (stuck on an await), by task",
    ["task"],
)
CHILD_RESTARTS = Counter(
    "failstream_stream_child_restarts_total",
    "Child processes of the worker restarted after they died, by child (persister)",
    ["child"],
)
PERSISTER_RESTARTS = CHILD_RESTARTS.labels("persister")

ALERTS_PUBLISHED = Counter(
    "failstream_stream_alerts_published_total",
    "Alerts published to Kafka and acknowledged, by rule and state (firing, resolved)",
    ["rule", "state"],
)
DETECTION_SECONDS = Histogram(
    "failstream_stream_detection_latency_seconds",
    "From the event time of the failure that fired an alert to the alert acknowledged by Kafka",
    ["rule"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)


def count_batch(processed: int, dead_lettered: int, *, failures: bool) -> None:
    """One agent batch: two additions, whatever its size."""
    (FAILURES_PROCESSED if failures else EMAILS_PROCESSED).inc(processed)
    if dead_lettered:
        (FAILURES_DEAD if failures else EMAILS_DEAD).inc(dead_lettered)


def count_persisted(failures: int, email_events: int, dead_letters: int) -> None:
    """One persister batch, after MongoDB took it."""
    if failures:
        PERSISTED_FAILURES.inc(failures)
    if email_events:
        PERSISTED_EMAIL_EVENTS.inc(email_events)
    if dead_letters:
        PERSISTED_DEAD_LETTERS.inc(dead_letters)


def observe_published(alerts: Iterable[Alert], now_ms: int) -> None:
    """Alerts Kafka acknowledged; a firing alert's latency runs from its last failure's event time.

    A resolved alert has no triggering failure, and a rule whose ``last_seen``
    lies ahead (the spike rule's is the end of its minute) has none to time.
    """
    for alert in alerts:
        ALERTS_PUBLISHED.labels(alert.rule, alert.state).inc()
        if alert.state == "firing" and alert.last_seen <= now_ms:
            DETECTION_SECONDS.labels(alert.rule).observe((now_ms - alert.last_seen) / 1000)


class FaustMonitorCollector(Collector):
    """Totals Faust's default monitor keeps anyway, read at scrape time (no cost per event)."""

    def __init__(self, monitor: Monitor) -> None:
        self._monitor = monitor

    def collect(self) -> Iterator[Metric]:
        m = self._monitor
        yield CounterMetricFamily(
            "failstream_stream_faust_messages_received",
            "Messages Faust's consumer handed to the agents",
            value=m.messages_received_total,
        )
        yield CounterMetricFamily(
            "failstream_stream_faust_messages_sent",
            "Messages the worker's producer sent (alerts, changelogs, live counts, dead letters)",
            value=m.messages_sent,
        )
        yield CounterMetricFamily(
            "failstream_stream_faust_rebalances", "Consumer group rebalances seen", value=m.rebalances
        )
        yield GaugeMetricFamily(
            "failstream_stream_faust_messages_active",
            "Messages taken but not yet acked",
            value=m.messages_active,
        )


def watch_faust(monitor: Monitor) -> None:
    """Report ``monitor``'s totals; called once the worker runs (its monitor exists then)."""
    REGISTRY.register(FaustMonitorCollector(monitor))


def serve_worker(settings: StreamSettings) -> None:
    """The detection process's /metrics, with its consumer group's lag."""
    if serve_metrics(settings.metrics_host, settings.metrics_stream_port, "stream"):
        topics = [settings.topic_failed_requests, settings.topic_email_events]
        report_consumer_lag(settings, settings.stream_app_id, topics, settings.metrics_lag_interval_s)


def serve_persister(settings: StreamSettings, group: str) -> None:
    """The persister process's /metrics, with its consumer group's lag."""
    if serve_metrics(settings.metrics_host, settings.metrics_persister_port, "persister"):
        report_consumer_lag(
            settings,
            group,
            [settings.topic_failed_requests, settings.topic_email_events],
            settings.metrics_lag_interval_s,
        )

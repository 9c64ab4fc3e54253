"""Prometheus metrics of the producer, registered once per process.

Labels are bounded (a fixed reason list, a fixed drop cause list), so a host
service's scrape cannot grow with its traffic. Hot-path counts are kept as
plain integers by the sink and added here by its background thread, which
keeps a label lookup and a lock off every produced event.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator

from prometheus_client import REGISTRY, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector


class CapturedCounts:
    """Captured failures of one host service per (reason, status), counted with a plain dict.

    A prometheus ``Counter.labels(...).inc`` takes a label lookup and a lock
    (about 0.5 us); a dict update does not, and the scrape reads the dict
    instead. Both label sets are closed: reasons are a fixed list, statuses
    are HTTP codes the policy captures, and the service is one name.
    """

    def __init__(self, service: str) -> None:
        self.service = service
        self.by_reason_status: dict[tuple[str, int], int] = {}
        #: events the host's configuration kept from Kafka, per (cause, status): see DISCARD_CAUSES;
        #: the status is a failure's HTTP status or an email event's delivery status
        self.discarded: dict[tuple[str, int | str], int] = {}


#: why a captured failure was not sent: its status's sample rate, or the host's before_send hook
#: (returned None, or raised: the event is dropped then, as it may hold what the hook was to scrub);
#: email events are discarded by the hook only
DISCARD_CAUSES = ("sampled_out", "before_send", "before_send_error")


class _CapturedCollector(Collector):
    def __init__(self) -> None:
        self._sources: weakref.WeakSet[CapturedCounts] = weakref.WeakSet()

    def track(self, counts: CapturedCounts) -> None:
        self._sources.add(counts)

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "failstream_producer_captured_events",
            "Failed requests captured by the middleware, by reason, HTTP status and host service",
            labels=["reason", "status", "service"],
        )
        discarded = CounterMetricFamily(
            "failstream_producer_discarded_events",
            "Captured failures and email events not sent by the host's choice, by cause (sampled_out: "
            "the sample rate of the status; before_send: the hook returned None; before_send_error: the "
            "hook raised and the event was dropped), status (a failure's HTTP status, an email event's "
            "delivery status) and host service",
            labels=["cause", "status", "service"],
        )
        for target, attribute in ((family, "by_reason_status"), (discarded, "discarded")):
            totals: dict[tuple[str, str, str], int] = {}
            for source in list(self._sources):
                # a copy: the request path may add a key while the scrape thread reads
                for (label, status), count in list(getattr(source, attribute).items()):
                    labels = (label, str(status), source.service)
                    totals[labels] = totals.get(labels, 0) + count
            for labels, count in sorted(totals.items()):
                target.add_metric(labels, count)
            yield target


CAPTURED = _CapturedCollector()
REGISTRY.register(CAPTURED)


def captured_counts(service: str) -> CapturedCounts:
    """A counter set for one recorder, reported under ``failstream_producer_captured_events``."""
    counts = CapturedCounts(service)
    CAPTURED.track(counts)
    return counts


_email_counts: dict[str, CapturedCounts] = {}


def email_counts(service: str) -> CapturedCounts:
    """The discard counts of one service's email events, made on first use and kept for the scrape."""
    counts = _email_counts.get(service)
    if counts is None:
        counts = _email_counts.setdefault(service, captured_counts(service))
    return counts


EMAIL_EVENTS = Counter("failstream_producer_email_events", "Email events reported by the host service")
DELIVERED = Counter("failstream_producer_delivered_events", "Events Kafka acknowledged")
DELIVERY_ERRORS = Counter(
    "failstream_producer_delivery_errors", "Events Kafka did not take in time (they go to the spool)"
)
SPOOLED = Counter("failstream_producer_spooled_events", "Events written to the on-disk spool")
REPLAYED = Counter(
    "failstream_producer_replayed_events", "Spooled events delivered after the broker came back"
)
DROPPED = Counter(
    "failstream_producer_dropped_events",
    "Events lost for good, by cause (queue_full: oldest captured failure dropped from the capture queue; "
    "spool_full: oldest dropped for room; spool_error: disk failed; "
    "spool_corrupt: damaged stretches of the spool skipped on reading, an event or more each)",
    ["cause"],
)
QUEUE_DEPTH = Gauge("failstream_producer_queue_depth", "Events in librdkafka's queue, not yet acknowledged")
SPOOL_EVENTS = Gauge("failstream_producer_spool_events", "Events waiting in the on-disk spool")
SPOOL_BYTES = Gauge("failstream_producer_spool_bytes", "Bytes used by the on-disk spool")
SPOOL_WRITE_FAILURES = Counter(
    "failstream_producer_spool_write_failures",
    "Writes to the on-disk spool that failed (disk full, permissions)",
)
KAFKA_UP = Gauge(
    "failstream_producer_kafka_up",
    "1 while the capture's Kafka producer reaches the broker, 0 while it keeps events for later",
)
KAFKA_UP.set(1)


_SINK_COUNTERS = (
    ("delivered", DELIVERED),
    ("delivery_errors", DELIVERY_ERRORS),
    ("spooled", SPOOLED),
    ("replayed", REPLAYED),
    ("dropped_spool_full", DROPPED.labels("spool_full")),
    ("dropped_other", DROPPED.labels("spool_error")),
    ("spool_corrupt", DROPPED.labels("spool_corrupt")),
    ("spool_write_failures", SPOOL_WRITE_FAILURES),
)


class SinkMetricsPublisher:
    """Adds a sink's running totals to the Prometheus counters, and sets its gauges.

    The totals come from a :meth:`KafkaSink.stats` call. A sink that starts
    over (in a forked child) counts from zero again: :meth:`restart` says so,
    and its totals are then added on top.
    """

    def __init__(self) -> None:
        self._published: dict[str, int] = {}

    def publish(self, stats: dict[str, int]) -> None:
        for name, counter in _SINK_COUNTERS:
            value = stats.get(name, 0)
            delta = value - self._published.get(name, 0)
            if delta > 0:
                counter.inc(delta)
                self._published[name] = value
        QUEUE_DEPTH.set(stats.get("queue_depth", 0))
        SPOOL_EVENTS.set(stats.get("spool_events", 0))
        SPOOL_BYTES.set(stats.get("spool_bytes", 0))
        KAFKA_UP.set(stats.get("kafka_up", 1))

    def restart(self) -> None:
        self._published.clear()

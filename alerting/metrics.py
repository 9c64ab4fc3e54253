"""Prometheus metrics of the alerting process (served on ``metrics_port`` when it is set).

Labels are closed sets (alert outcomes, email statuses), so the scrape stays
small however many subjects fire.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

ALERTS = Counter(
    "failstream_alerting_alerts_total",
    "Alerts taken off Kafka, by what became of them",
    [
        "outcome"
    ],  # sent, failed, suppressed_silence, suppressed_rate_limit, suppressed_resolved_off, duplicate
)
EMAILS = Counter(
    "failstream_alerting_email_transitions_total",
    "Email log transitions (PENDING, RETRYING, SENT, FAILED)",
    ["status"],
)
SEND_SECONDS = Histogram(
    "failstream_alerting_send_seconds",
    "From the first SMTP attempt to SENT or FAILED, retries included",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)

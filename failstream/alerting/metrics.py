"""Prometheus metrics of the alerting process (served on ``metrics_alerting_port``).

Labels are closed sets (alert outcomes, email statuses, rule names), so the
scrape stays small however many subjects fire. The label values that are
known up front are created at import, so a dashboard shows 0 instead of "no
data" before the first alert.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import Counter, Histogram

from failstream.events import Alert
from failstream.metrics.consumer_lag import report_consumer_lag
from failstream.metrics.http import serve_metrics
from failstream.settings import AlertingSettings

#: sent, failed, suppressed by a cause (silence, rate limit, resolved notices off), or
#: "duplicate": the fence found it already handled (by this or another process)
OUTCOMES = (
    "sent",
    "failed",
    "suppressed_silence",
    "suppressed_rate_limit",
    "suppressed_resolved_off",
    "duplicate",
)
EMAIL_STATUSES = ("PENDING", "RETRYING", "SENT", "FAILED")

RECEIVED = Counter(
    "failstream_alerting_alerts_received_total",
    "Alerts taken off Kafka (fired by the stream app), by rule and state (firing, resolved)",
    ["rule", "state"],
)
ALERTS = Counter(
    "failstream_alerting_alerts_total",
    "Alerts taken off Kafka, by what became of them (duplicate = stopped by the fence)",
    ["outcome"],
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
SMTP_ATTEMPT_SECONDS = Histogram(
    "failstream_alerting_smtp_attempt_seconds",
    "One SMTP send (connect, TLS, auth, DATA), by result (ok, error)",
    ["result"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
EMAIL_ATTEMPTS = Histogram(
    "failstream_alerting_email_attempts",
    "SMTP attempts an email took, by its final status (sent, failed)",
    ["status"],
    buckets=(1, 2, 3, 4, 5, 10),
)
ALERTS_PER_EMAIL = Histogram(
    "failstream_alerting_alerts_per_email",
    "Alerts in one email: above 1 is a digest of alerts grouped within group_wait",
    buckets=(1, 2, 3, 5, 10, 20, 50),
)
END_TO_END_SECONDS = Histogram(
    "failstream_alerting_end_to_end_latency_seconds",
    "From the failure that fired an alert (its event time) to the email accepted by SMTP",
    buckets=(0.25, 0.5, 1, 2.5, 5, 10, 15, 30, 60, 120, 300, 600),
)
RECEIVER_DELIVERIES = Counter(
    "failstream_alerting_receiver_deliveries_total",
    "Deliveries to receivers besides email (webhook, slack, alertmanager), by receiver and outcome "
    "(sent, failed = dead-lettered, duplicate = stopped by the fence)",
    ["receiver", "kind", "outcome"],
)
RECEIVER_OUTCOMES = ("sent", "failed", "duplicate")

for _outcome in OUTCOMES:
    ALERTS.labels(_outcome)
for _status in EMAIL_STATUSES:
    EMAILS.labels(_status)
for _result in ("ok", "error"):
    SMTP_ATTEMPT_SECONDS.labels(_result)
for _status in ("sent", "failed"):
    EMAIL_ATTEMPTS.labels(_status)


def declare_receivers(settings: AlertingSettings) -> None:
    """Each configured receiver shows 0 sent and 0 failed before its first alert."""
    for receiver in settings.receivers:
        for outcome in RECEIVER_OUTCOMES:
            RECEIVER_DELIVERIES.labels(receiver.name, receiver.kind, outcome)


def serve(settings: AlertingSettings, group: str) -> None:
    """Serve this process's /metrics, with the lag of its consumer group on ``alerts``."""
    if serve_metrics(settings.metrics_host, settings.metrics_alerting_port, "alerting"):
        report_consumer_lag(settings, group, [settings.topic_alerts], settings.metrics_lag_interval_s)


def observe_sent(alerts: Iterable[Alert], attempts: int, now_ms: int) -> None:
    """One email SENT: its attempts, and event-to-email latency of the firing alerts in it."""
    EMAIL_ATTEMPTS.labels("sent").observe(attempts)
    for alert in alerts:
        if alert.state == "firing":  # a resolved notice has no triggering failure to time
            END_TO_END_SECONDS.observe(max(now_ms - alert.last_seen, 0) / 1000)

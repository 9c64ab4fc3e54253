"""What the stream app left behind: alerts on Kafka and counts in MongoDB."""

from __future__ import annotations

from collections import Counter
from typing import Any

from failstream.events import Alert
from failstream.settings import Settings
from tests.integration.stream_app.kafka_io import read_all
from tests.unit.stream_app.oracle import Expected


def alerts_on_topic(settings: Settings) -> list[Alert]:
    return [Alert.model_validate_json(value) for _, value in read_all(settings, settings.topic_alerts)]


def as_expected(alerts: list[Alert]) -> set[Expected]:
    return {Expected(a.alert_key, a.state, a.count) for a in alerts}


def messages_per_key(alerts: list[Alert]) -> Counter[str]:
    return Counter(a.alert_key for a in alerts)


def counts(db: Any) -> dict[str, Any]:
    """Totals the stream app wrote: raw failures, per-IP and per-minute sums."""
    return {
        "failures": db.failures.count_documents({}),
        "by_ip": {d["_id"]: d["total"] for d in db.ip_stats.find({}, {"total": 1})},
        "minutes": sum(d.get("total", 0) for d in db.minute_counts.find({"source": "failures"})),
    }

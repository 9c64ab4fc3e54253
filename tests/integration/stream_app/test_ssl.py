"""The worker runs against the broker's mutual-TLS listener with Aiven-style certificates."""

from __future__ import annotations

from typing import Any

import pytest

from failstream.events import new_event_id, now_ms
from failstream.settings import ROOT, Settings
from tests.integration.services import ProcessGroup, wait_until
from tests.integration.stream_app.checks import alerts_on_topic, counts
from tests.integration.stream_app.kafka_io import failure_json, produce

pytestmark = pytest.mark.integration

TLS = ROOT / ".infra" / "kafka" / "tls"


def test_worker_over_the_ssl_listener_counts_and_alerts(
    settings: Settings, processes: ProcessGroup, db: Any
) -> None:
    settings = settings.model_copy(
        update={
            "kafka_bootstrap_servers": f"127.0.0.1:{settings.infra_kafka_ssl_port}",
            "kafka_security_protocol": "SSL",
            "kafka_ssl_cafile": TLS / "ca.pem",
            "kafka_ssl_certfile": TLS / "service.cert",
            "kafka_ssl_keyfile": TLS / "service.key",
        }
    )
    processes.start("stream", "stream", settings)
    ts = now_ms()
    produce(
        settings,
        settings.topic_failed_requests,
        ((b"10.6.0.1", failure_json(new_event_id(), "10.6.0.1", ts + i)) for i in range(6)),
    )
    wait_until(lambda: counts(db)["by_ip"] == {"10.6.0.1": 6}, 60, "6 failures counted over TLS")
    wait_until(lambda: len(alerts_on_topic(settings)) == 1, 30, "one alert read back over TLS")
    [alert] = alerts_on_topic(settings)
    assert (alert.alert_key, alert.count) == (f"ip-failures:10.6.0.1:{ts}", 5)
    assert f"Kafka 127.0.0.1:{settings.infra_kafka_ssl_port} over SSL" in processes.log("stream")

from __future__ import annotations

from prometheus_client import REGISTRY

from failstream.producer.capture import FailureRecorder


def _captured(reason: str, status: str, service: str) -> float:
    labels = {"reason": reason, "status": status, "service": service}
    return REGISTRY.get_sample_value("failstream_producer_captured_events_total", labels) or 0.0


def test_captured_failures_are_counted_per_reason_status_and_service_in_the_scrape(
    unit_settings, recording_sink
) -> None:
    service = unit_settings.service_name
    before = _captured("rate_limited", "429", service)
    recorder = FailureRecorder(unit_settings, recording_sink)
    for _ in range(3):
        recorder.record(
            peer="203.0.113.1",
            x_forwarded_for=None,
            forwarded=None,
            method="GET",
            route="/r",
            status=429,
            has_auth=True,
            host_reason=None,
            user_agent="",
            request_id="",
        )
    assert _captured("rate_limited", "429", service) - before == 3

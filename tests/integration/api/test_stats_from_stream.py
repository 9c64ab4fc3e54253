"""Failures produced to Kafka, counted by the real stream worker, read back through the API."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
import pytest

from failstream.events import failed_request_json, new_event_id, now_ms
from failstream.settings import Settings
from tests.integration.api.support import REASONS, STATUS_OF, get, read_headers
from tests.integration.services import ProcessGroup, wait_until
from tests.integration.stream_app.kafka_io import produce

pytestmark = pytest.mark.integration


def _events(base: int) -> list[tuple[str, str, str, int]]:
    """(ip, reason, service, ts): IP k sends 2(k+1) failures, so the top ten are unambiguous."""
    out = []
    i = 0
    for k in range(15):
        for _ in range(2 * (k + 1)):
            reason = REASONS[i % len(REASONS)]
            out.append((f"198.51.100.{k}", reason, "billing.v2" if i % 5 == 0 else "demo", base - i * 700))
            i += 1
    return out


def test_summary_timeseries_and_ip_detail_equal_the_failures_sent_through_the_stream_worker(
    api_settings: Settings, processes: ProcessGroup, api_url: str, db: Any
) -> None:
    base = now_ms()
    events = _events(base)
    processes.start("stream", "stream", api_settings)
    produce(
        api_settings,
        api_settings.topic_failed_requests,
        (
            (
                ip.encode(),
                failed_request_json(
                    event_id=new_event_id(),
                    ts=ts,
                    service=service,
                    ip=ip,
                    method="POST",
                    route="/api/submit",
                    status=STATUS_OF[reason],
                    reason=reason,
                    user_agent="pytest",
                    request_id="",
                ),
            )
            for ip, reason, service, ts in events
        ),
    )

    def summary() -> dict[str, Any]:
        response = get(api_url, "/api/v1/stats/summary", api_settings, window="1h")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    wait_until(lambda: summary()["total"] == len(events), 120, f"{len(events)} failures in the summary")
    body = summary()
    assert body["by_reason"] == dict(Counter(reason for _, reason, _, _ in events))
    assert body["by_status"] == {str(k): v for k, v in Counter(STATUS_OF[r] for _, r, _, _ in events).items()}
    assert body["by_service"] == dict(Counter(service for _, _, service, _ in events))  # "." restored
    per_ip = Counter(ip for ip, _, _, _ in events)
    assert {t["ip"]: t["count"] for t in body["top_ips"]} == dict(per_ip.most_common(10))
    assert all(t["count_scope"] == "window" for t in body["top_ips"])

    series = get(api_url, "/api/v1/stats/timeseries", api_settings, step="5m").json()
    assert sum(p["total"] for p in series["points"]) == len(events)
    assert all(p["t"] % 300_000 == 0 for p in series["points"])

    wait_until(
        lambda: (
            get(api_url, "/api/v1/ips/198.51.100.3", api_settings).json().get("total")
            == per_ip["198.51.100.3"]
        ),
        30,
        "per-IP totals",
    )
    detail = get(api_url, "/api/v1/ips/198.51.100.3", api_settings, recent=5).json()
    mine = [e for e in events if e[0] == "198.51.100.3"]
    assert detail["scope"] == "address"
    assert detail["first_seen"] == min(ts for *_, ts in mine)
    assert detail["last_seen"] == max(ts for *_, ts in mine)
    assert detail["reasons"] == dict(Counter(r for _, r, _, _ in mine))
    assert [f["ts"] for f in detail["recent_failures"]] == sorted((ts for *_, ts in mine), reverse=True)[:5]

    # the default window is 1h too: the e2e test and the dashboard read it without parameters
    assert httpx.get(f"{api_url}/api/v1/stats/summary", headers=read_headers(api_settings)).json()[
        "total"
    ] == len(events)

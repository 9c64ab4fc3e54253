"""One failed request followed all the way from the demo service to an alert email."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from failstream.settings import Settings
from tests.integration.services import ProcessGroup, SmtpSink, wait_until

pytestmark = pytest.mark.integration


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _bad_token_requests(demo_url: str, source_ip: str, n: int) -> list[int]:
    transport = httpx.HTTPTransport(local_address=source_ip)
    with httpx.Client(transport=transport, timeout=5) as client:
        return [
            client.post(f"{demo_url}/api/submit", headers={"Authorization": f"Bearer wrong-{i}"}).status_code
            for i in range(n)
        ]


def test_six_bad_tokens_from_one_ip_email_on_call_once_and_stats_count_all_ten(
    settings: Settings, smtp_sink: SmtpSink, processes: ProcessGroup
) -> None:
    settings = settings.model_copy(update={"smtp_port": smtp_sink.port, "group_wait_s": 0.0})
    for name in ("stream", "alerting", "api", "demo-app"):
        processes.start(name, name, settings)
    demo_url = f"http://127.0.0.1:{settings.demo_port}"
    api_url = f"http://127.0.0.1:{settings.api_port}"
    wait_until(lambda: _answers(f"{demo_url}/healthz"), 30, "the demo service")
    wait_until(lambda: _answers(f"{api_url}/healthz"), 30, "the API")

    assert _bad_token_requests(demo_url, "127.0.0.2", 6) == [401] * 6
    assert _bad_token_requests(demo_url, "127.0.0.3", 4) == [401] * 4

    headers = {"X-API-Key": settings.api_read_keys[0].get_secret_value()}

    def summary() -> dict:
        return httpx.get(f"{api_url}/api/v1/stats/summary", headers=headers, timeout=5).json()

    wait_until(lambda: summary().get("total") == 10, 90, "10 failures in the stats")
    wait_until(lambda: len(smtp_sink.messages()) >= 1, 60, "an alert email")
    time.sleep(3)  # a second (duplicate or wrong) email would have arrived by now

    stats = summary()
    assert stats["total"] == 10
    assert {row["ip"]: row["count"] for row in stats["top_ips"]} == {"127.0.0.2": 6, "127.0.0.3": 4}
    assert stats["by_reason"] == {"invalid_token": 10}

    messages = smtp_sink.messages()
    assert len(messages) == 1, [m["Subject"] for m in messages]
    subject = messages[0]["Subject"]
    assert "127.0.0.2" in subject and "127.0.0.3" not in subject
    count = int(re.search(r"(\d+) failures", subject).group(1))  # type: ignore[union-attr]
    assert 5 <= count <= 6
    assert messages[0]["To"] == ", ".join(settings.oncall_recipients)

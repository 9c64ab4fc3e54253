"""/readyz names the dependency that is down; /metrics is bounded and can be switched off."""

from __future__ import annotations

import gc
import re
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from failstream.settings import Settings
from tests.integration.api.support import failure, get, persist, running_api
from tests.integration.services import free_port

pytestmark = pytest.mark.integration


def test_readyz_is_503_naming_kafka_when_the_broker_is_unreachable(settings: Settings, db: Any) -> None:
    dead_kafka = settings.model_copy(update={"kafka_bootstrap_servers": f"127.0.0.1:{free_port()}"})
    with running_api(dead_kafka) as url:
        response = httpx.get(f"{url}/readyz", timeout=15)
    gc.collect()
    assert response.status_code == 503
    assert response.json()["checks"]["mongodb"] == "ok"
    assert response.json()["checks"]["kafka"].startswith("error")


def test_mongodb_down_gives_503_not_500_and_readyz_names_mongodb(settings: Settings) -> None:
    dead_mongo = settings.model_copy(
        update={"mongo_uri": SecretStr(f"mongodb://127.0.0.1:{free_port()}/"), "api_mongo_timeout_ms": 300}
    )
    with running_api(dead_mongo) as url:
        ready = httpx.get(f"{url}/readyz", timeout=15)
        stats = get(url, "/api/v1/stats/summary", dead_mongo)
        page = get(url, "/api/v1/failures", dead_mongo)
    assert ready.status_code == 503 and ready.json()["checks"]["mongodb"].startswith("error")
    assert (stats.status_code, page.status_code) == (503, 503)
    assert "MongoDB" in stats.json()["detail"]


def test_latency_histogram_is_labelled_by_route_template_never_by_raw_path(
    api_settings: Settings, api_url: str, db: Any
) -> None:
    persist(api_settings, [failure(1_800_000_000_000, "203.0.113.50", 0)])
    for ip in ("203.0.113.50", "203.0.113.51", "203.0.113.52"):
        get(api_url, f"/api/v1/ips/{ip}", api_settings)
    httpx.get(f"{api_url}/no/such/path/203.0.113.53")
    text = httpx.get(f"{api_url}/metrics").text
    routes = set(re.findall(r'failstream_api_request_duration_seconds_count\{[^}]*route="([^"]+)"', text))
    assert "/api/v1/ips/{ip}" in routes
    assert "unmatched" in routes
    assert not any("203.0.113" in r for r in routes)
    assert re.search(r'_count\{method="GET",route="/api/v1/ips/\{ip\}",status="2xx"\} 1\.0', text)
    assert re.search(r'route="/api/v1/ips/\{ip\}",status="4xx"\} 2\.0', text)  # two unknown IPs: 404


def test_metrics_can_be_switched_off(settings: Settings, db: Any) -> None:
    with running_api(settings.model_copy(update={"api_metrics_enabled": False})) as url:
        assert httpx.get(f"{url}/metrics").status_code == 404
        assert httpx.get(f"{url}/healthz").status_code == 200

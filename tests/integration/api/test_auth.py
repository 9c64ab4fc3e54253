"""API keys: read scope for reads, admin scope for silences; health and metrics are open."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from failstream.settings import Settings
from tests.integration.api.support import admin_headers, read_headers, running_api

pytestmark = pytest.mark.integration

READS = [
    "/api/v1/stats/summary",
    "/api/v1/stats/timeseries",
    "/api/v1/failures",
    "/api/v1/alerts",
    "/api/v1/emails",
]


@pytest.mark.parametrize("path", READS)
def test_reads_need_a_key_and_accept_read_and_admin_keys(
    api_settings: Settings, api_url: str, db: Any, path: str
) -> None:
    assert httpx.get(f"{api_url}{path}").status_code == 401
    wrong = httpx.get(f"{api_url}{path}", headers={"X-API-Key": "not-a-key"})
    assert wrong.status_code == 401
    assert "X-API-Key" in wrong.json()["detail"]
    assert httpx.get(f"{api_url}{path}", headers=read_headers(api_settings)).status_code == 200
    assert httpx.get(f"{api_url}{path}", headers=admin_headers(api_settings)).status_code == 200


def test_silences_answer_403_to_a_read_key_for_writes_and_reads(
    api_settings: Settings, api_url: str, db: Any
) -> None:
    read = read_headers(api_settings)
    body = {"subject": "203.0.113.9", "duration_s": 60}
    assert httpx.post(f"{api_url}/api/v1/silences", json=body).status_code == 401
    assert httpx.post(f"{api_url}/api/v1/silences", json=body, headers=read).status_code == 403
    assert httpx.get(f"{api_url}/api/v1/silences", headers=read).status_code == 403
    assert httpx.delete(f"{api_url}/api/v1/silences/abc", headers=read).status_code == 403
    assert db.silences.count_documents({}) == 0


def test_several_configured_keys_each_work(settings: Settings, db: Any) -> None:
    from pydantic import SecretStr

    multi = settings.model_copy(
        update={
            "api_read_keys": (SecretStr("r-one"), SecretStr("r-two")),
            "api_admin_keys": (SecretStr("a-one"),),
        }
    )
    with running_api(multi) as url:
        for key in ("r-one", "r-two", "a-one"):
            assert httpx.get(f"{url}/api/v1/alerts", headers={"X-API-Key": key}).status_code == 200
        assert httpx.get(f"{url}/api/v1/alerts", headers={"X-API-Key": "r-on"}).status_code == 401
        assert httpx.get(f"{url}/api/v1/silences", headers={"X-API-Key": "a-one"}).status_code == 200


def test_healthz_readyz_and_metrics_need_no_key(api_settings: Settings, api_url: str, db: Any) -> None:
    assert httpx.get(f"{api_url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{api_url}/readyz", timeout=10)
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"mongodb": "ok", "kafka": "ok"}}
    assert httpx.get(f"{api_url}/metrics").status_code == 200

"""Bad parameters are 4xx answers whose message names the parameter; none is a 500."""

from __future__ import annotations

from typing import Any

import pytest

from failstream.settings import Settings
from tests.integration.api.support import get

pytestmark = pytest.mark.integration

CASES = [
    ("/api/v1/ips/not-an-ip", {}, "ip"),
    ("/api/v1/ips/999.1.1.1", {}, "ip"),
    ("/api/v1/failures", {"ip": "10.0.0.300"}, "ip"),
    ("/api/v1/stats/summary", {"window": "forever"}, "window"),
    ("/api/v1/stats/summary", {"window": "30s"}, "window"),
    ("/api/v1/stats/summary", {"window": "1000d"}, "window"),
    ("/api/v1/stats/timeseries", {"step": "90s"}, "step"),
    ("/api/v1/stats/timeseries", {"from": 0, "step": "1m"}, "step"),
    ("/api/v1/stats/timeseries", {"from": 2000, "to": 1000}, "from"),
    ("/api/v1/stats/timeseries", {"from": "yesterday"}, "from"),
    ("/api/v1/failures", {"cursor": "garbage!"}, "cursor"),
    ("/api/v1/failures", {"cursor": "WyJhbGVydHMiLDEsImEiXQ"}, "cursor"),  # an alerts cursor
    ("/api/v1/failures", {"limit": 0}, "limit"),
    ("/api/v1/failures", {"limit": 100_000}, "limit"),
    ("/api/v1/failures", {"limit": "ten"}, "limit"),
    ("/api/v1/failures", {"reason": "bored"}, "reason"),
    ("/api/v1/alerts", {"status": "lost"}, "status"),
    ("/api/v1/emails", {"status": "sent"}, "status"),  # statuses are upper case
    ("/api/v1/emails", {"kind": "spam"}, "kind"),
]


@pytest.mark.parametrize(("path", "params", "name"), CASES)
def test_bad_parameter_is_422_naming_it(
    api_settings: Settings, api_url: str, db: Any, path: str, params: dict[str, Any], name: str
) -> None:
    response = get(api_url, path, api_settings, **params)
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    assert errors[0]["loc"][-1] == name
    assert errors[0]["msg"].startswith(name), errors[0]["msg"]


def test_unknown_ip_is_404_naming_it(api_settings: Settings, api_url: str, db: Any) -> None:
    response = get(api_url, "/api/v1/ips/2001:db8::1", api_settings)
    assert response.status_code == 404
    assert "2001:db8::1" in response.json()["detail"]

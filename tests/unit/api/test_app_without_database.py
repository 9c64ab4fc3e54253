"""What the app answers before touching MongoDB: auth, validation, health, metric labels."""

from __future__ import annotations

import httpx

from failstream.api.app import create_app
from failstream.settings import Settings


async def test_auth_validation_and_route_template_labels_need_no_database() -> None:
    app = create_app(Settings(api_read_keys=("r",), api_admin_keys=("a",)))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        assert (await client.get("/api/v1/ips/10.0.0.1")).status_code == 401
        assert (await client.get("/api/v1/silences", headers={"X-API-Key": "r"})).status_code == 403
        bad = await client.get("/api/v1/ips/nope", headers={"X-API-Key": "r"})
        assert bad.status_code == 422 and bad.json()["detail"][0]["msg"].startswith("ip must be")
        await client.get("/does/not/exist/10.9.9.9")
        text = (await client.get("/metrics")).text
    assert 'route="/api/v1/ips/{ip}",status="4xx"} 2.0' in text
    assert 'route="/api/v1/silences",status="4xx"} 1.0' in text
    assert 'route="unmatched",status="4xx"} 1.0' in text
    assert "10.9.9.9" not in text and "10.0.0.1" not in text


def test_openapi_documents_every_endpoint_with_the_api_key_scheme() -> None:
    schema = create_app(Settings()).openapi()
    paths = schema["paths"]
    for path in (
        "/api/v1/stats/summary",
        "/api/v1/stats/timeseries",
        "/api/v1/ips/{ip}",
        "/api/v1/failures",
        "/api/v1/alerts",
        "/api/v1/emails",
        "/api/v1/silences",
        "/api/v1/silences/{silence_id}",
        "/healthz",
        "/readyz",
        "/metrics",
    ):
        assert path in paths
    assert schema["components"]["securitySchemes"]["APIKeyHeader"]["name"] == "X-API-Key"
    assert set(paths["/api/v1/silences"]) == {"get", "post"}

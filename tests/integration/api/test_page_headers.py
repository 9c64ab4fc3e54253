"""Every page the API serves, by any path, has a CSP that forbids framing."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.integration

PAGES = ["/", "/static/index.html", "/static/dashboard.js", "/static/dashboard.css", "/docs", "/redoc"]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_route_sends_the_csp_with_frame_ancestors_none(api_url: str, path: str) -> None:
    response = httpx.get(f"{api_url}{path}", timeout=10)
    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["frame-ancestors"] == "'none'"
    assert directives["base-uri"] == "'none'"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("path", ["/", "/static/index.html"])
def test_the_dashboard_by_either_path_may_load_from_its_own_origin_only(api_url: str, path: str) -> None:
    csp = httpx.get(f"{api_url}{path}", timeout=10).headers["content-security-policy"]
    assert "default-src 'self'" in csp and "http" not in csp and "unsafe-inline" not in csp


def test_a_page_is_sent_with_one_csp_not_two(api_url: str) -> None:
    response = httpx.get(f"{api_url}/", timeout=10)
    assert len(response.headers.get_list("content-security-policy")) == 1


def test_json_endpoints_are_left_alone(api_url: str) -> None:
    assert "content-security-policy" not in httpx.get(f"{api_url}/healthz", timeout=10).headers

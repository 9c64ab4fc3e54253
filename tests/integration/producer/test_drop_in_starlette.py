"""Starlette 0.37 and FastAPI 0.112 hosts (pydantic 2.7) under uvicorn: failures on the real broker.

Starlette 0.37 names no route in the scope: the template is found from the
endpoint (``producer.asgi_route``); FastAPI names it at every release.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from failstream.settings import Settings
from tests.integration.producer.drop_in import assert_captured, fail_on_purpose, serving
from tests.integration.producer.venvs import OLDEST_CORE, ThrowawayVenv

pytestmark = pytest.mark.integration

FRAMEWORK = ("fastapi==0.112.0", "starlette==0.37.*", "uvicorn==0.29.*")


@pytest.fixture(scope="session")
def starlette_venv(tmp_path_factory: pytest.TempPathFactory, failstream_wheel: Path) -> ThrowawayVenv:
    return ThrowawayVenv(
        tmp_path_factory.mktemp("venv-starlette"), failstream_wheel, (*FRAMEWORK, *OLDEST_CORE)
    )


@pytest.mark.parametrize(
    ("framework", "route"), [("starlette", "/orders/{order_id:int}"), ("fastapi", "/orders/{order_id}")]
)
def test_a_starlette_0_37_or_fastapi_host_captures_its_failures_with_the_route_template(
    starlette_venv: ThrowawayVenv, settings: Settings, tmp_path: Path, framework: str, route: str
) -> None:
    installed = starlette_venv.installed()
    assert installed["starlette"].startswith("0.37.") and installed["pydantic"] == "2.7.0"
    with serving(starlette_venv, "starlette_host.py", (framework,), settings, tmp_path) as port:
        expected = fail_on_purpose(port)
        assert_captured(settings, expected, route)

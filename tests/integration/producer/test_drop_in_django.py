"""Django 4.2 LTS host: `pip install failstream django==4.2`, FailstreamMiddleware, events on the broker.

Served twice: by Django's runserver (WSGI: the middleware runs sync) and by
uvicorn (ASGI: it runs as a coroutine); uvicorn is the one package beside
failstream and Django, there only to serve.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from failstream.settings import Settings
from tests.integration.producer.drop_in import assert_captured, fail_on_purpose, serving
from tests.integration.producer.venvs import OLDEST_CORE, ThrowawayVenv

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def django_venv(tmp_path_factory: pytest.TempPathFactory, failstream_wheel: Path) -> ThrowawayVenv:
    return ThrowawayVenv(
        tmp_path_factory.mktemp("venv-django"),
        failstream_wheel,
        ("django==4.2.*", "uvicorn==0.29.*", *OLDEST_CORE),
    )


@pytest.mark.parametrize("mode", ["wsgi", "asgi"])
def test_a_django_4_2_host_captures_its_failures_with_the_resolved_route(
    django_venv: ThrowawayVenv, settings: Settings, tmp_path: Path, mode: str
) -> None:
    assert django_venv.installed()["django"].startswith("4.2.")
    with serving(django_venv, "django_host.py", (mode,), settings, tmp_path) as port:
        expected = fail_on_purpose(port)
        assert_captured(settings, expected, "/orders/<int:order_id>")

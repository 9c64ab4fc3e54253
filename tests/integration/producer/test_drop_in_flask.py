"""Flask 2.3 host: ``pip install failstream flask==2.3``, ``Failstream(app)``, failures on the real broker."""

from __future__ import annotations

from pathlib import Path

import pytest

from failstream.settings import Settings
from tests.integration.producer.drop_in import assert_captured, fail_on_purpose, serving
from tests.integration.producer.venvs import OLDEST_CORE, ThrowawayVenv

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def flask_venv(tmp_path_factory: pytest.TempPathFactory, failstream_wheel: Path) -> ThrowawayVenv:
    return ThrowawayVenv(
        tmp_path_factory.mktemp("venv-flask"),
        failstream_wheel,
        ("flask==2.3.*", "werkzeug==2.3.*", *OLDEST_CORE),
    )


def test_a_flask_2_3_host_captures_its_failures_with_the_matched_rule(
    flask_venv: ThrowawayVenv, settings: Settings, tmp_path: Path
) -> None:
    assert flask_venv.installed()["flask"].startswith("2.3.")
    with serving(flask_venv, "flask_host.py", (), settings, tmp_path) as port:
        expected = fail_on_purpose(port)
        assert_captured(settings, expected, "/orders/<int:order_id>")

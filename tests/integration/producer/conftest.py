"""Session-wide pieces of the producer's integration tests: the failstream wheel of this checkout."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.producer.venvs import build_wheel


@pytest.fixture(scope="session")
def failstream_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("wheel"))

"""The real `failstream api` process never writes an ?api_key= value to its log, however it is spelled."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from failstream.settings import Settings
from tests.integration.services import ProcessGroup, wait_until

pytestmark = pytest.mark.integration

SPELLINGS = ["api_key", "API_KEY", "Api_Key", "api%5Fkey", "api%5fkey", "%61pi%5Fkey", "api%255Fkey"]


def test_access_log_masks_the_api_key_query_parameter_in_every_spelling(
    settings: Settings, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAILSTREAM_")}
    env.update(settings.as_env())
    env.update(FAILSTREAM_API_READ_KEYS="read-key-in-query-7f3a", PYTHONUNBUFFERED="1")
    log = tmp_path / "api.log"
    processes = ProcessGroup(tmp_path)
    try:
        with log.open("wb") as out:
            processes.procs["api"] = subprocess.Popen(
                [sys.executable, "-m", "failstream.cli", "api"],
                env=env,
                cwd=tmp_path,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        url = f"http://127.0.0.1:{settings.api_port}"

        def answers() -> bool:
            try:
                return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(answers, 60, "the API")
        for i, name in enumerate(SPELLINGS):
            # raw target: httpx must not re-encode the spelling under test
            target = f"/api/v1/alerts?limit=1&{name}=secret-{i}-in-query"
            with httpx.Client(base_url=url, timeout=10) as client:
                request = client.build_request("GET", url)
                request.url = request.url.copy_with(raw_path=target.encode())
                client.send(request)
        wait_until(lambda: log.read_text().count("/api/v1/alerts?") >= len(SPELLINGS), 10, "access lines")
    finally:
        processes.stop_all()
    text = log.read_text()
    assert "-in-query" not in text, text
    for name in SPELLINGS:
        assert f"{name}=***" in text

"""`failstream api` never serves the development keys beyond loopback (real process, real services)."""

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


def _env(settings: Settings, **overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAILSTREAM_")}
    env.update(settings.as_env())
    for name in ("FAILSTREAM_API_READ_KEYS", "FAILSTREAM_API_ADMIN_KEYS"):
        env.pop(name)  # unset: the development keys
    env.update(overrides)
    return env


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_api_with_no_keys_configured_refuses_a_non_loopback_address_with_one_line(
    settings: Settings, tmp_path: Path, host: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "failstream.cli", "api"],
        env=_env(settings, FAILSTREAM_API_HOST=host),
        cwd=tmp_path,  # no stray .env
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "development API keys" in lines[0] and "FAILSTREAM_API_READ_KEYS" in lines[0]
    assert "Uvicorn running" not in result.stderr + result.stdout


def test_api_with_no_keys_configured_serves_loopback_with_the_dev_keys_and_says_so(
    settings: Settings, tmp_path: Path
) -> None:
    env_settings = settings.model_copy(update={"api_host": "127.0.0.1"})
    processes = ProcessGroup(tmp_path / "logs")
    log = tmp_path / "logs" / "api.log"
    log.parent.mkdir(parents=True)
    try:
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "failstream.cli", "api"],
                env=_env(env_settings, PYTHONUNBUFFERED="1"),
                cwd=tmp_path,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        processes.procs["api"] = proc
        url = f"http://127.0.0.1:{settings.api_port}"

        def answers() -> bool:
            try:
                return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(answers, 60, "the API on loopback")
        reply = httpx.get(f"{url}/api/v1/alerts", headers={"X-API-Key": "dev-read-key"}, timeout=10)
        assert reply.status_code == 200, reply.text
    finally:
        processes.stop_all()
    notices = [line for line in log.read_text().splitlines() if "development keys" in line]
    assert len(notices) == 1 and "dev-read-key" in notices[0] and "loopback" in notices[0]


def test_api_with_own_keys_starts_on_any_address(settings: Settings, tmp_path: Path) -> None:
    env = _env(
        settings.model_copy(update={"api_host": "0.0.0.0"}),
        FAILSTREAM_API_READ_KEYS="own-read-key-4b1d6c0e9f",
        FAILSTREAM_API_ADMIN_KEYS="own-admin-key-77a0c3e1d2",
        PYTHONUNBUFFERED="1",
    )
    processes = ProcessGroup(tmp_path / "logs")
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "failstream.cli", "api"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        processes.procs["api"] = proc
        url = f"http://127.0.0.1:{settings.api_port}"

        def answers() -> bool:
            assert proc.poll() is None, "the API exited"
            try:
                return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(answers, 60, "the API on 0.0.0.0")
        headers = {"X-API-Key": "dev-read-key"}
        assert httpx.get(f"{url}/api/v1/alerts", headers=headers, timeout=10).status_code == 401
    finally:
        processes.stop_all()

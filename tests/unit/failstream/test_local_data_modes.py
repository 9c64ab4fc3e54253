"""What a local service (failstream infra) writes is readable by its owner only."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from failstream.infra import process
from failstream.infra.process import ManagedProcess


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def infra_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for name in ("RUN_DIR", "LOG_DIR", "DATA_DIR"):
        monkeypatch.setattr(process, name, tmp_path / name.lower())
    old = os.umask(0o022)  # the usual default: files 0644, directories 0755
    yield tmp_path
    os.umask(old)


def test_a_local_service_writes_data_logs_and_pid_owner_only(infra_dirs: Path) -> None:
    data = infra_dirs / "data_dir"
    service = ManagedProcess("modes-test")
    script = f"mkdir -p {data}/db && echo rows > {data}/db/table && echo started && exec sleep 30"
    service.start(["/bin/sh", "-c", script])
    try:
        deadline = time.monotonic() + 10
        while not (data / "db" / "table").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        assert service.stop(timeout_s=5)
    for folder in (infra_dirs / "run_dir", infra_dirs / "log_dir", data, data / "db"):
        assert _mode(folder) == 0o700, folder
    assert _mode(data / "db" / "table") == 0o600
    assert _mode(service.log_file) == 0o600 and "started" in service.log_file.read_text()

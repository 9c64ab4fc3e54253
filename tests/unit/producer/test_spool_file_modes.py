"""Spooled events name clients (addresses, routes): the spool is readable by its owner only."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from failstream.producer.spool import DiskSpool


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def wide_umask() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_spool_directories_are_0700_and_every_file_0600(tmp_path: Path) -> None:
    spool = DiskSpool(tmp_path / "spool", max_bytes=10_000_000, segment_bytes=200)
    spool.open()
    spool.append([("failed-requests", b"203.0.113.7", b"x" * 150) for _ in range(5)])  # several segments
    oldest = spool.oldest()
    assert oldest is not None
    path, records = oldest
    spool.requeue(path, records[1:])
    spool.close()
    root = tmp_path / "spool"
    dirs = [root, *(p for p in root.rglob("*") if p.is_dir())]
    files = [p for p in root.rglob("*") if p.is_file()]
    assert len(files) >= 3 and any(".lock" == f.name for f in files)
    assert {_mode(d) for d in dirs} == {0o700}
    assert {_mode(f) for f in files} == {0o600}


def test_a_spool_root_left_open_by_an_earlier_version_is_narrowed(tmp_path: Path) -> None:
    root = tmp_path / "spool"
    root.mkdir()
    root.chmod(0o755)
    spool = DiskSpool(root, max_bytes=1_000_000)
    spool.open()
    spool.close()
    assert _mode(root) == 0o700

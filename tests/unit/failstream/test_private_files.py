"""Private keys and local data are readable by their owner only."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from failstream.infra import certs
from failstream.private_files import private_dir, private_opener, write_private


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def wide_umask() -> Iterator[None]:
    old = os.umask(0o022)  # the usual default: files 0644, directories 0755
    yield
    os.umask(old)


def test_private_dirs_and_files_are_0700_and_0600_under_a_wide_umask(
    tmp_path: Path, wide_umask: None
) -> None:
    folder = private_dir(tmp_path / "a" / "b")
    write_private(folder / "secret", b"x")
    with open(folder / "appended", "ab", opener=private_opener) as handle:
        handle.write(b"y")
    assert _mode(folder) == 0o700
    assert _mode(folder / "secret") == 0o600 and _mode(folder / "appended") == 0o600


def test_an_existing_wide_directory_and_file_are_narrowed(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir(mode=0o755)
    (tmp_path / "d").chmod(0o755)
    (tmp_path / "d" / "f").write_bytes(b"old")
    (tmp_path / "d" / "f").chmod(0o644)
    private_dir(tmp_path / "d")
    write_private(tmp_path / "d" / "f", b"new")
    assert _mode(tmp_path / "d") == 0o700 and _mode(tmp_path / "d" / "f") == 0o600


def test_local_tls_private_keys_are_0600_in_a_0700_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, wide_umask: None
) -> None:
    monkeypatch.setattr(certs, "TLS_DIR", tmp_path / "tls")
    monkeypatch.setattr(certs, "ROOT", tmp_path)
    (tmp_path / "certificates").mkdir()
    files = certs.ensure_local_tls()
    tls = tmp_path / "tls"
    assert _mode(tls) == 0o700
    for key in (tls / "ca.key", tls / "broker.key", files.broker_keystore, files.client_key):
        assert _mode(key) == 0o600, key
    assert _mode(tmp_path / "certificates" / "service.key") == 0o600
    assert _mode(files.ca) & 0o044  # certificates stay readable: they are public


def test_keys_left_readable_by_an_earlier_version_are_narrowed_on_the_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(certs, "TLS_DIR", tmp_path / "tls")
    monkeypatch.setattr(certs, "ROOT", tmp_path)
    (tmp_path / "certificates").mkdir()
    files = certs.ensure_local_tls()
    files.client_key.chmod(0o644)
    (tmp_path / "tls").chmod(0o755)
    certs.ensure_local_tls()
    assert _mode(files.client_key) == 0o600 and _mode(tmp_path / "tls") == 0o700

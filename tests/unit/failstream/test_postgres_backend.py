"""The local PostgreSQL backend's fixed choices: pool room for the persisters, loopback only."""

from __future__ import annotations

from pathlib import Path

import pytest

from failstream.infra import ferretdb, postgres
from failstream.settings import Settings
from failstream.stream_app.mongo.guarded_counts import IN_FLIGHT, PERSISTERS_PER_POOL


def test_the_default_pool_holds_every_persisters_statements_in_flight_with_room_for_readers() -> None:
    # each matching statement in flight holds a connection until it ends, +1 for a write to finish one
    held = PERSISTERS_PER_POOL * (IN_FLIGHT + 1)
    assert held + 10 <= Settings().infra_ferretdb_pool_size
    assert Settings().infra_ferretdb_pool_size * 4 <= postgres.MAX_CONNECTIONS  # the shared server and tests'


def test_the_server_listens_on_loopback_at_its_own_port_and_on_no_unix_socket() -> None:
    argv = postgres.command(postgres.Binaries(Path("/usr/lib/postgresql/15/bin")), [], 5999)
    options = {argv[i + 1] for i, arg in enumerate(argv) if arg == "-c"}
    assert {"listen_addresses=127.0.0.1", "port=5999", "unix_socket_directories="} <= options


def test_each_throwaway_data_directory_has_a_database_of_its_own(tmp_path: Path) -> None:
    first, second = postgres.database_for(tmp_path / "a"), postgres.database_for(tmp_path / "b")
    assert first != second and first.startswith(postgres.THROWAWAY_PREFIX)
    assert postgres.database_for(tmp_path / "a") == first
    assert postgres.database_for(None) == postgres.SHARED_DATABASE


def test_ferretdb_collects_garbage_less_often_unless_the_user_chose(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(_env_file=None, infra_ferretdb_backend="sqlite")
    monkeypatch.delenv("GOGC", raising=False)
    _, env = ferretdb.command(settings, "127.0.0.1", 27099, tmp_path)
    assert env == {"GOGC": "400"}
    monkeypatch.setenv("GOGC", "150")
    _, env = ferretdb.command(settings, "127.0.0.1", 27099, tmp_path)
    assert env == {"GOGC": "150"}

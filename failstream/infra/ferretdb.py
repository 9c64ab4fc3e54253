"""FerretDB 1.24, the MongoDB-compatible server for local runs.

Its backend is a private PostgreSQL cluster (``failstream.infra.postgres``),
or SQLite files with ``FAILSTREAM_INFRA_FERRETDB_BACKEND=sqlite``: at a
million stored failures SQLite answers an indexed recent-by-IP query in
seconds, PostgreSQL in milliseconds (docs/benchmarks.md).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path

from failstream.infra import postgres
from failstream.infra.process import (
    DATA_DIR,
    INFRA_DIR,
    LOG_DIR,
    InfraError,
    ManagedProcess,
    port_open,
    run_step,
    say,
)
from failstream.settings import ROOT, Settings

SOURCE = ROOT / "infra" / "ferretdb"
BINARY = INFRA_DIR / "bin" / "ferretdb"
FERRETDB = ManagedProcess("ferretdb")
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


def local_address(settings: Settings) -> tuple[str, int] | None:
    """Host and port when the configured MongoDB is ours to start, else None."""
    uri = settings.mongo_uri.get_secret_value()
    match = re.match(r"^mongodb://(?:[^@/]*@)?([^/,?]+?)(?::(\d+))?(?:/|\?|$)", uri)
    if not match or match.group(1) not in LOCAL_HOSTS:
        return None
    return match.group(1), int(match.group(2) or 27017)


def _source_digest() -> str:
    """What the binary is built from: a change to the wrapper or its modules rebuilds it."""
    digest = hashlib.sha256()
    for name in ("main.go", "go.mod", "go.sum"):
        digest.update((SOURCE / name).read_bytes())
    return digest.hexdigest()


def ensure_binary() -> None:
    stamp = BINARY.with_name("ferretdb.source")
    wanted = _source_digest()
    if BINARY.is_file() and stamp.is_file() and stamp.read_text().strip() == wanted:
        return
    if shutil.which("go") is None:
        raise InfraError("Go is needed to build FerretDB: install golang")
    BINARY.parent.mkdir(parents=True, exist_ok=True)
    # built aside and renamed over: a running server keeps its (old) file, a racing build loses nothing
    built = BINARY.with_name(f"ferretdb.{os.getpid()}.new")
    run_step(
        ["go", "build", "-o", str(built), "."],
        cwd=SOURCE,
        what="building FerretDB v1.24.2 from the Go module proxy (first start only, ~2 min)",
        log=LOG_DIR / "ferretdb-build.log",
    )
    os.replace(built, BINARY)
    stamp.write_text(wanted)


def command(
    settings: Settings, host: str, port: int, data_dir: Path | None
) -> tuple[list[str], dict[str, str]]:
    """FerretDB's argv and environment for the configured backend (the PostgreSQL one started)."""
    listen = ["-listen-addr", f"{host}:{port}"]
    # FerretDB's live heap is small and every query allocates its documents twice (backend
    # row, then BSON), so Go's default GOGC=100 collects often; 400 lets the heap grow to five
    # times the live one first, for less CPU per query (docs/benchmarks.md). A GOGC set by the
    # user wins.
    env = {"GOGC": os.environ.get("GOGC", "400")}
    if settings.infra_ferretdb_backend == "sqlite":
        data = data_dir or DATA_DIR / "ferretdb"
        data.mkdir(parents=True, exist_ok=True)
        return [str(BINARY), *listen, "-handler", "sqlite", "-sqlite-dir", str(data)], env
    say(postgres.up(settings))
    database = postgres.ensure_database(settings, data_dir)
    env["FERRETDB_POSTGRESQL_URL"] = postgres.ferretdb_url(settings, database)
    return [str(BINARY), *listen, "-handler", "postgresql"], env


def up(settings: Settings, *, process: ManagedProcess = FERRETDB, data_dir: Path | None = None) -> str:
    """Start FerretDB unless it answers; ``process``/``data_dir`` run another one.

    Tests that must stop the database start their own this way (another port
    in ``settings``, a temporary data dir) and never touch the shared one. On
    PostgreSQL, ``data_dir`` names the server's own database in the one
    cluster (the cluster itself is never stopped by a test).
    """
    address = local_address(settings)
    if address is None:
        return "mongodb: using FAILSTREAM_MONGO_URI (remote, not started here)"
    host, port = address
    if process.pid() is None and port_open(host, port):
        return f"mongodb already answering on {host}:{port} (not started by failstream)"
    if process.pid() is None:
        ensure_binary()
        if data_dir is not None:
            data_dir.mkdir(parents=True, exist_ok=True)
        argv, env = command(settings, host, port, data_dir)
        say(f"starting FerretDB ({settings.infra_ferretdb_backend}) on {host}:{port}")
        process.start(argv, env=env)
    process.wait_ready(lambda: port_open(host, port), timeout_s=30)
    return f"ferretdb ({settings.infra_ferretdb_backend}) up on {host}:{port} (pid {process.pid()})"

"""FerretDB 1.24 (SQLite backend), the MongoDB-compatible server for local runs."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

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


def ensure_binary() -> None:
    if BINARY.is_file():
        return
    if shutil.which("go") is None:
        raise InfraError("Go is needed to build FerretDB: install golang")
    BINARY.parent.mkdir(parents=True, exist_ok=True)
    run_step(
        ["go", "build", "-o", str(BINARY), "."],
        cwd=SOURCE,
        what="building FerretDB v1.24.2 from the Go module proxy (first start only, ~2 min)",
        log=LOG_DIR / "ferretdb-build.log",
    )


def up(settings: Settings, *, process: ManagedProcess = FERRETDB, data_dir: Path | None = None) -> str:
    """Start FerretDB unless it answers; ``process``/``data_dir`` run another one.

    Tests that must stop the database start their own this way (another port
    in ``settings``, a temporary data dir) and never touch the shared one.
    """
    address = local_address(settings)
    if address is None:
        return "mongodb: using FAILSTREAM_MONGO_URI (remote, not started here)"
    host, port = address
    if process.pid() is None and port_open(host, port):
        return f"mongodb already answering on {host}:{port} (not started by failstream)"
    if process.pid() is None:
        ensure_binary()
        data = data_dir or DATA_DIR / "ferretdb"
        data.mkdir(parents=True, exist_ok=True)
        say(f"starting FerretDB on {host}:{port}")
        process.start([str(BINARY), "-listen-addr", f"{host}:{port}", "-sqlite-dir", str(data)])
    process.wait_ready(lambda: port_open(host, port), timeout_s=30)
    return f"ferretdb up on {host}:{port} (pid {process.pid()})"

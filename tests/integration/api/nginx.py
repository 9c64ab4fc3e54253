"""Debian's nginx on a free loopback port, with its own prefix, config, pid and logs in a temp dir.

Installed on first use like Prometheus and Chromium (``infra.debian``). It
never runs with root's powers: under root it is started as ``nobody``
(``setpriv``), in a directory of its own that ``nobody`` owns. The one server
includes the file a test writes (the decisions export) and serves a static
page to whatever it does not deny.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from failstream.infra.debian import ensure_binary
from tests.integration.services import free_port

CONFIG = """\
daemon off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {root}/access.log;
    client_body_temp_path {root}/tmp/body;
    proxy_temp_path {root}/tmp/proxy;
    fastcgi_temp_path {root}/tmp/fastcgi;
    uwsgi_temp_path {root}/tmp/uwsgi;
    scgi_temp_path {root}/tmp/scgi;
    server {{
        listen 127.0.0.1:{port};
        include {root}/failstream-deny.conf;
        # a static file, not "return": return ends the request before the access phase runs deny
        location / {{ root {root}/html; }}
    }}
}}
"""
NOBODY = 65534


class Nginx:
    def __init__(self, root: Path, port: int, process: subprocess.Popen[bytes]) -> None:
        self.root = root
        self.url = f"http://127.0.0.1:{port}/"
        self._process = process
        self.include = root / "failstream-deny.conf"

    def write_include(self, text: str) -> None:
        self.include.write_text(text)
        self.include.chmod(0o644)

    def reload(self) -> None:
        """SIGHUP: the master re-reads the config (and the include) and starts new workers."""
        self._process.send_signal(signal.SIGHUP)

    def status_from(self, source: str) -> int:
        """The status nginx answers a request whose source address is ``source`` (any 127.x works)."""
        transport = httpx.HTTPTransport(local_address=source)
        with httpx.Client(transport=transport, timeout=5) as client:
            return client.get(self.url).status_code

    def log(self) -> str:
        return (self.root / "error.log").read_text(errors="replace")


def _drop_privileges() -> list[str]:
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    assert setpriv, "setpriv (util-linux) is needed to run nginx without root's powers"
    return [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]


@contextmanager
def nginx() -> Iterator[Nginx]:
    binary = ensure_binary("nginx", "nginx")
    root = Path(tempfile.mkdtemp(prefix="failstream-nginx-"))
    port = free_port()
    try:
        (root / "tmp").mkdir()
        (root / "html").mkdir()
        (root / "html" / "index.html").write_text("served\n")
        (root / "nginx.conf").write_text(CONFIG.format(root=root, port=port))
        (root / "failstream-deny.conf").write_text("")
        made = ("tmp", "html", "html/index.html", "nginx.conf", "failstream-deny.conf")
        for path in (root, *(root / name for name in made)):
            path.chmod(0o755 if path.is_dir() else 0o644)
            if os.geteuid() == 0:
                os.chown(path, NOBODY, NOBODY)
        process = subprocess.Popen(
            [
                *_drop_privileges(),
                binary,
                "-p",
                str(root),
                "-c",
                str(root / "nginx.conf"),
                "-e",
                str(root / "error.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        server = Nginx(root, port, process)
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    if server.status_from("127.0.0.1") == 200:
                        break
                except httpx.HTTPError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        f"nginx did not start: {server.log() if (root / 'error.log').exists() else ''}"
                    )
                time.sleep(0.1)
            yield server
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    finally:
        shutil.rmtree(root, ignore_errors=True)

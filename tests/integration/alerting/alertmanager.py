"""Debian's ``prometheus-alertmanager`` on a free loopback port, for the receiver tests.

Installed on first use like Prometheus and Chromium (``infra.debian``). Its
one route sends every alert group to a webhook of the test (resolved ones
too) after ``group_wait: 0s``, so a test sees what Alertmanager made of the
alerts Failstream posted. Clustering is off and its storage is a temp dir.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from failstream.infra.debian import ensure_binary
from tests.integration.services import free_port

CONFIG = """\
route:
  receiver: test-hook
  group_by: ["alertname", "subject"]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: test-hook
    webhook_configs:
      - url: "{hook_url}"
        send_resolved: true
"""


class Alertmanager:
    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"

    def alerts(self, subject: str) -> list[dict[str, Any]]:
        """``GET /api/v2/alerts``: the alerts Alertmanager holds as active for this subject."""
        response = httpx.get(
            f"{self.url}/api/v2/alerts", params={"filter": f'subject="{subject}"'}, timeout=5
        )
        response.raise_for_status()
        alerts: list[dict[str, Any]] = response.json()
        return alerts


@contextmanager
def alertmanager(tmp_path: Path, hook_url: str) -> Iterator[Alertmanager]:
    binary = ensure_binary("prometheus-alertmanager", "prometheus-alertmanager")
    config = tmp_path / "alertmanager.yml"
    config.write_text(CONFIG.format(hook_url=hook_url))
    port = free_port()
    log = (tmp_path / "alertmanager.log").open("wb")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.path={tmp_path / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    am = Alertmanager(port)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{am.url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    f"alertmanager did not start: {(tmp_path / 'alertmanager.log').read_text()}"
                )
            time.sleep(0.1)
        yield am
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()

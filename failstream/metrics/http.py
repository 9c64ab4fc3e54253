"""Serve one process's ``/metrics`` and ``/readyz`` on its own port, in a thread beside its loop.

Each process gets a port of its own (settings ``metrics_*_port``) rather than
prometheus-client's multiprocess mode: the stream worker's persister is a
spawned child with an interpreter, registry and scrape target of its own,
which keeps the counters plain in-memory objects with no files to clean up.
``/readyz`` answers 503, naming what is down, while the process waits for a
dependency (``failstream.dependency``), so a supervisor or a load balancer
sees what the log said once.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app

from failstream.dependency import Dependency

log = logging.getLogger("failstream.metrics")


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # scrapes every few seconds: no access log
        pass


def _with_readiness(metrics: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/readyz":
            return metrics(environ, start_response)
        down = Dependency.down_now()
        status = "503 Service Unavailable" if down else "200 OK"
        start_response(status, [("Content-Type", "application/json")])
        return [json.dumps({"ready": not down, "down": down}).encode()]

    return app


def serve_metrics(host: str, port: int, process: str) -> bool:
    """Start the scrape endpoint; False (and a warning) when it is off or the port is taken.

    A taken port must not stop the process: a second worker started on the
    same host still detects, it only goes unscraped, and the log says so.
    """
    if not port:
        return False
    try:
        server = make_server(
            host, port, _with_readiness(make_wsgi_app()), _ThreadingServer, handler_class=_QuietHandler
        )
    except OSError as exc:
        log.warning("%s: /metrics not served, %s:%d is unavailable (%s)", process, host, port, exc)
        return False
    threading.Thread(target=server.serve_forever, name=f"{process}-metrics", daemon=True).start()
    log.info("%s: /metrics and /readyz on http://%s:%d", process, host, port)
    return True

"""Serve one process's ``/metrics`` on its own port, in a thread beside the process's loop.

Each process gets a port of its own (settings ``metrics_*_port``) rather than
prometheus-client's multiprocess mode: the stream worker's persister is a
spawned child with an interpreter, registry and scrape target of its own,
which keeps the counters plain in-memory objects with no files to clean up.
"""

from __future__ import annotations

import logging

from prometheus_client import start_http_server

log = logging.getLogger("failstream.metrics")


def serve_metrics(host: str, port: int, process: str) -> bool:
    """Start the scrape endpoint; False (and a warning) when it is off or the port is taken.

    A taken port must not stop the process: a second worker started on the
    same host still detects, it only goes unscraped, and the log says so.
    """
    if not port:
        return False
    try:
        start_http_server(port, addr=host)
    except OSError as exc:
        log.warning("%s: /metrics not served, %s:%d is unavailable (%s)", process, host, port, exc)
        return False
    log.info("%s: /metrics on http://%s:%d/metrics", process, host, port)
    return True

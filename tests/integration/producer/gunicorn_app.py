"""A tiny WSGI app for the gunicorn ``--preload`` test, configured by FAILSTREAM_* variables.

Every request fails (403) and says which worker answered (``X-Worker-Pid``).
On import, in the preloading master, it captures one failure of its own, so
the master's capture thread, Kafka client and spool slot run when gunicorn
forks: each worker must start its own instead of using copies of them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from typing import Any

from failstream.producer.capture_queue import flush_capture
from failstream.producer.wsgi import FailureCaptureWSGIMiddleware, set_route
from failstream.settings import Settings

MASTER_REQUEST_ID = "preloading-master"


def _app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    set_route(environ, "/orders/<int:order_id>")
    if "slow" in environ.get("QUERY_STRING", ""):
        time.sleep(0.3)  # concurrent slow requests spread over the workers
    start_response("403 Forbidden", [("X-Worker-Pid", str(os.getpid())), ("Content-Type", "text/plain")])
    return [b"forbidden"]


application = FailureCaptureWSGIMiddleware(_app, settings=Settings())

# the master's own failure: its capture thread and sink start before any fork
list(
    application(
        {"REQUEST_METHOD": "GET", "PATH_INFO": "/orders/1", "REMOTE_ADDR": "127.0.0.1",
         "HTTP_X_REQUEST_ID": MASTER_REQUEST_ID},
        lambda *args: None,
    )
)  # fmt: skip
flush_capture(5)

"""End the live streams as soon as the server is asked to stop.

uvicorn waits for open responses before it runs the lifespan shutdown, and an
SSE response never ends by itself: without this, every open dashboard would
hold a restart until ``timeout_graceful_shutdown`` cancels it with a traceback.
uvicorn installs its SIGINT/SIGTERM handlers with ``signal.signal`` before the
lifespan starts, so chaining onto them here ends every subscription first
(clients get a clean end or close 1001, and resume elsewhere), then lets
uvicorn do what it always does. Only the main thread can set handlers; an app
served from another thread (tests) is left alone.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable
from types import FrameType

from failstream.api.live.hub import LiveHub

SIGNALS = (signal.SIGINT, signal.SIGTERM)


def end_streams_on_exit_signal(hub: LiveHub) -> Callable[[], None]:
    """Chain onto the current exit handlers; returns a function that puts them back."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    loop = asyncio.get_running_loop()
    previous = {sig: signal.getsignal(sig) for sig in SIGNALS}

    def handler(sig: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(hub.close_all)
        before = previous[signal.Signals(sig)]
        if callable(before):
            before(sig, frame)
        elif before == signal.SIG_DFL and sig == signal.SIGINT:
            raise KeyboardInterrupt

    for sig in SIGNALS:
        signal.signal(sig, handler)

    def restore() -> None:
        for sig, before in previous.items():
            if before is not None:
                signal.signal(sig, before)

    return restore

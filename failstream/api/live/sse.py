"""Server-sent events for one subscription, with the same drop rule as the WebSocket.

A ``StreamingResponse`` cannot bound a send: a client that stopped reading
would hold its response task forever. This response sends each event under
a timeout instead; on a timeout the client is dropped and the response ends
unfinished, which makes the server close the connection (uvicorn logs that as
"ASGI callable returned without completing response": expected, one line per
dropped client). Each event carries ``id: <ts>``, so a browser's
``EventSource`` resumes by itself with ``Last-Event-ID``.
"""

from __future__ import annotations

import asyncio
import contextlib

from starlette.background import BackgroundTask
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from failstream.api.live.hub import Subscription

#: how long a browser waits before reconnecting (ms), sent once at the start
RETRY_MS = 1000


def event(ts: int, data: str) -> bytes:
    return f"id: {ts}\ndata: {data}\n\n".encode()


class EventStream(Response):
    media_type = "text/event-stream"

    def __init__(self, sub: Subscription, send_timeout_s: float) -> None:
        # no body attribute: Response.init_headers then sets no Content-Length
        self.status_code = 200
        self.background: BackgroundTask | None = None
        self.init_headers({"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self._sub = sub
        self._send_timeout_s = send_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        sub = self._sub
        watcher = asyncio.create_task(_close_on_disconnect(receive, sub))
        try:
            if await self._send(send, f"retry: {RETRY_MS}\n\n".encode(), start=True):
                while (item := await sub.next()) is not None:
                    if not await self._send(send, event(item.ts, item.text)):
                        return  # dropped: end unfinished, the server closes the connection
                if not sub.dropped:
                    await self._send(send, b"", more_body=False)
        finally:
            sub.close()
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    async def _send(self, send: Send, body: bytes, *, start: bool = False, more_body: bool = True) -> bool:
        """One send under the timeout; False (client dropped or gone) when it did not go out."""
        try:
            async with asyncio.timeout(self._send_timeout_s):
                if start:
                    await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
                await send({"type": "http.response.body", "body": body, "more_body": more_body})
        except TimeoutError:
            self._sub.drop()
            return False
        except OSError:  # the client went away mid-send
            self._sub.close()
            return False
        return True


async def _close_on_disconnect(receive: Receive, sub: Subscription) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    sub.close()

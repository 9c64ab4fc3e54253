"""Push one subscription down one WebSocket, giving up on a client that stops reading.

Each connection has its own task (the ASGI call), so a send that blocks
blocks only this client; after ``send_timeout_s`` the client is dropped and
its connection closed. A second task watches for the client going away, so a
closed tab frees its subscription at once rather than at the next push.
"""

from __future__ import annotations

import asyncio
import contextlib

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketDisconnected

from failstream.api.live.hub import Subscription

#: close codes (RFC 6455): the server is going away; try again later (dropped as too slow)
GOING_AWAY = 1001
TRY_AGAIN_LATER = 1013


async def pump(websocket: WebSocket, sub: Subscription, send_timeout_s: float) -> None:
    left = asyncio.Event()
    watcher = asyncio.create_task(_close_on_disconnect(websocket, sub, left))
    try:
        await _send_all(websocket, sub, send_timeout_s)
        if not left.is_set():
            # dropped as too slow, or the server is stopping. Bounded: a client that
            # stopped reading may never take the close frame either.
            code = TRY_AGAIN_LATER if sub.dropped else GOING_AWAY
            with contextlib.suppress(TimeoutError, WebSocketDisconnect, WebSocketDisconnected, OSError):
                async with asyncio.timeout(1.0):
                    await websocket.close(code)
    finally:
        sub.close()
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher


async def _send_all(websocket: WebSocket, sub: Subscription, send_timeout_s: float) -> None:
    while (item := await sub.next()) is not None:
        try:
            async with asyncio.timeout(send_timeout_s):
                await websocket.send_text(item.text)
        except TimeoutError:
            sub.drop()
            return
        except (WebSocketDisconnect, WebSocketDisconnected, OSError):
            sub.close()
            return


async def _close_on_disconnect(websocket: WebSocket, sub: Subscription, left: asyncio.Event) -> None:
    """Read (and ignore) client messages until it disconnects, then end the subscription."""
    with contextlib.suppress(WebSocketDisconnect, WebSocketDisconnected, OSError):
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass
    left.set()
    sub.close()

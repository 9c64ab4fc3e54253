"""1,000 WebSocket clients of one real API process, fed from the real live-counts topic.

Everything is on loopback: the ``failstream api`` process, the Kafka broker, the
clients (one asyncio loop in this test). A stalled client (handshake done, never
reads) is connected first and stays connected throughout.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field

import pytest
from websockets.asyncio.client import ClientConnection, connect

from failstream.settings import Settings
from tests.integration.api_live.support import (
    LiveCountsWriter,
    expected_failures,
    key_subprotocols,
    metric,
    second_now,
    stalled_websocket,
    start_api,
    write_every_second,
)
from tests.integration.services import ProcessGroup

pytestmark = pytest.mark.integration

CLIENTS = 1000
OBSERVED_SECONDS = 6
#: a second is due 1 s after it ends (api_live_delay_s); pushed to all within this much more
MAX_LATE_S = 1.5


@dataclass
class Client:
    ws: ClientConnection
    got: list[tuple[int, int, int, float]] = field(default_factory=list)  # ts, failures, records, at
    until: int = 2**53
    reached: asyncio.Event = field(default_factory=asyncio.Event)

    async def read(self) -> None:
        async for text in self.ws:
            m = json.loads(text)
            self.got.append((m["ts"], m["failures"], m["records"], time.time()))
            if m["ts"] >= self.until:
                self.reached.set()


async def _connect(url: str, settings: Settings, gate: asyncio.Semaphore) -> Client:
    async with gate:
        ws = await connect(url, subprotocols=key_subprotocols(settings), open_timeout=60, ping_interval=None)
        return Client(ws)


async def test_a_thousand_websocket_clients_get_every_second_and_a_stalled_one_delays_none(
    settings: Settings, processes: ProcessGroup
) -> None:
    base = start_api(processes, settings)
    url = base.replace("http://", "ws://") + "/api/v1/live"
    stalled = stalled_websocket(base, settings)
    writer = LiveCountsWriter(settings)
    stop = asyncio.Event()
    writing = asyncio.create_task(write_every_second(writer, stop))
    clients: list[Client] = []
    readers: list[asyncio.Task[None]] = []
    try:
        async with asyncio.timeout(180):  # the whole test is bounded
            gate = asyncio.Semaphore(50)
            clients = list(await asyncio.gather(*(_connect(url, settings, gate) for _ in range(CLIENTS))))
            readers = [asyncio.create_task(c.read()) for c in clients]
            assert await asyncio.to_thread(metric, base, "failstream_api_live_clients") == CLIENTS + 1

            first = second_now() + 1000  # a second that no client can have missed the start of
            last = first + (OBSERVED_SECONDS - 1) * 1000
            for client in clients:
                client.until = last
            await asyncio.gather(*(c.reached.wait() for c in clients))
    finally:
        stop.set()
        for task in (writing, *readers):
            task.cancel()
        await asyncio.gather(*(c.ws.close() for c in clients), return_exceptions=True)
        writer.flush()
        stalled.close()

    wanted = list(range(first, last + 1000, 1000))
    worst = 0.0
    for client in clients:
        seen = [(ts, failures, records) for ts, failures, records, _ in client.got if first <= ts <= last]
        # every second, once, in order, both workers' records summed
        assert seen == [(ts, expected_failures(ts), 2) for ts in wanted]
        # contiguous from its first message: no second skipped before the window either
        all_ts = [ts for ts, *_ in client.got]
        assert all_ts == list(range(all_ts[0], all_ts[-1] + 1000, 1000))
        for ts, _, _, at in client.got:
            if first <= ts <= last:
                worst = max(worst, at - (ts + 2000) / 1000)  # due at the second's end + 1 s delay
    # nobody waited for the stalled client (or for anyone else)
    print(f"{CLIENTS} clients: worst delivery {worst:.3f}s after due")
    assert worst < MAX_LATE_S, f"a client got a second {worst:.2f}s after it was due"

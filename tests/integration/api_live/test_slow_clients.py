"""A client that stops reading is dropped; the clients that read get every second on time.

Seconds are made large here (thousands of labels per record, over 1 MB a second)
so the stalled client's socket buffers fill within seconds instead of hours.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time

import httpx
import pytest
from websockets.asyncio.client import connect

from failstream.events import LiveCounts
from failstream.settings import Settings
from tests.integration.api_live.support import (
    LiveCountsWriter,
    key_subprotocols,
    metric,
    poll_until,
    read_key,
    second_now,
    stalled_websocket,
    start_api,
)
from tests.integration.services import ProcessGroup

pytestmark = pytest.mark.integration

LABELS = 30_000  # per record: ~0.7 MB of JSON, two records a second


async def _write_big_seconds(writer: LiveCountsWriter, stop: asyncio.Event) -> None:
    second = second_now() + 1000
    while not stop.is_set():
        for offset_ms, prefix in ((100, "a"), (600, "b")):
            await asyncio.sleep(max(0.0, (second + offset_ms) / 1000 - time.time()))
            labels = {f"{prefix}-{i:05d}": 1 for i in range(LABELS)}
            writer.write(LiveCounts(ts=second, failures=LABELS, by_service=labels))
        second += 1000


def _read_to_eof(sock: socket.socket, timeout_s: float) -> int:
    sock.settimeout(timeout_s)
    total = 0
    while chunk := sock.recv(1 << 20):
        total += len(chunk)
    return total


async def test_a_client_that_stops_reading_is_dropped_and_the_others_get_every_second(
    settings: Settings, processes: ProcessGroup
) -> None:
    settings = settings.model_copy(update={"api_live_send_timeout_s": 1.0, "api_live_client_queue": 5})
    base = start_api(processes, settings)
    url = base.replace("http://", "ws://") + "/api/v1/live"
    stalled = stalled_websocket(base, settings)
    writer = LiveCountsWriter(settings)
    stop = asyncio.Event()
    writing = asyncio.create_task(_write_big_seconds(writer, stop))
    got: dict[str, list[tuple[int, int, float]]] = {"ws": [], "sse": []}

    async def ws_reader() -> None:
        async with connect(url, subprotocols=key_subprotocols(settings), max_size=None) as ws:
            async for text in ws:
                m = json.loads(text)
                got["ws"].append((m["ts"], m["failures"], time.time()))

    async def sse_reader() -> None:
        headers = {"X-API-Key": read_key(settings)}
        async with (
            httpx.AsyncClient(timeout=30) as client,
            client.stream("GET", f"{base}/api/v1/live/stream", headers=headers) as r,
        ):
            async for line in r.aiter_lines():
                if line.startswith("data: "):
                    m = json.loads(line.removeprefix("data: "))
                    got["sse"].append((m["ts"], m["failures"], time.time()))

    readers = [asyncio.create_task(ws_reader()), asyncio.create_task(sse_reader())]
    try:
        async with asyncio.timeout(120):
            dropped = "failstream_api_live_dropped_clients_total"

            async def one_dropped() -> bool:
                return await asyncio.to_thread(metric, base, dropped) == 1

            await poll_until(one_dropped, 60, "the stalled client to be dropped")
            dropped_at = second_now()
            # the server has closed the stalled connection: what it had buffered, then EOF
            assert await asyncio.to_thread(_read_to_eof, stalled, 30) > 1_000_000
            assert await asyncio.to_thread(metric, base, "failstream_api_live_clients") == 2

            # the readers went on, through the drop and after it
            async def readers_went_on() -> bool:
                return all(rows and rows[-1][0] >= dropped_at + 2000 for rows in got.values())

            await poll_until(readers_went_on, 30, "seconds after the drop")
    finally:
        stop.set()
        for task in (writing, *readers):
            task.cancel()
        await asyncio.gather(writing, *readers, return_exceptions=True)
        writer.flush()
        stalled.close()

    for name, rows in got.items():
        steady = [(ts, failures, at) for ts, failures, at in rows if failures]
        assert steady, name
        tss = [ts for ts, _, _ in steady]
        assert tss == list(range(tss[0], tss[-1] + 1000, 1000)), f"{name} missed a second"
        assert all(failures == 2 * LABELS for _, failures, _ in steady[1:]), name
        late = max(at - (ts + 2000) / 1000 for ts, _, at in steady)
        assert late < 2.0, f"{name} got a second {late:.2f}s after it was due"

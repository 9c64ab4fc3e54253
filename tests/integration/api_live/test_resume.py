"""A client that reconnects resumes where it left off: over WS, over SSE, across an API restart.

Seconds are numbered by their ``ts``, the ring is filled from Kafka when an API
process starts, so the resume point means the same on any API process.
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from failstream.settings import Settings
from tests.integration.api_live.support import (
    LiveCountsWriter,
    expected_failures,
    key_subprotocols,
    read_key,
    start_api,
    write_every_second,
)
from tests.integration.services import ProcessGroup

pytestmark = pytest.mark.integration


@pytest.fixture
async def live_records(settings: Settings) -> AsyncIterator[None]:
    """Two "workers" write a record each per second to the test's live-counts topic."""
    writer = LiveCountsWriter(settings)
    stop = asyncio.Event()
    task = asyncio.create_task(write_every_second(writer, stop))
    yield
    stop.set()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    writer.flush()


async def _ws_seconds(url: str, settings: Settings, n: int, since: int | None = None) -> list[dict[str, int]]:
    query = f"?since={since}" if since is not None else ""
    async with connect(url + query, subprotocols=key_subprotocols(settings)) as ws:
        assert ws.subprotocol == "failstream.live.v1"
        return [json.loads(await ws.recv()) for _ in range(n)]


async def _sse_events(base: str, settings: Settings, n: int, last_event_id: str | None = None) -> list[str]:
    headers = {"X-API-Key": read_key(settings)}
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    lines: list[str] = []
    async with (
        httpx.AsyncClient(timeout=30) as client,
        client.stream("GET", f"{base}/api/v1/live/stream", headers=headers) as response,
    ):
        assert response.headers["content-type"].startswith("text/event-stream")
        async for line in response.aiter_lines():
            lines.append(line)
            if sum(1 for x in lines if x.startswith("data: ")) == n:
                return lines
    raise AssertionError(f"stream ended after {lines}")


def _contiguous_after(last: int, seconds: list[dict[str, int]]) -> None:
    assert [s["ts"] for s in seconds] == [last + 1000 * (i + 1) for i in range(len(seconds))]
    for s in seconds:
        if s["records"] == 2:  # seconds the writer fully covered carry its sums
            assert s["failures"] == expected_failures(s["ts"])


async def test_a_websocket_client_resumes_after_a_gap_without_losing_a_second(
    settings: Settings, processes: ProcessGroup, live_records: None
) -> None:
    url = start_api(processes, settings).replace("http://", "ws://") + "/api/v1/live"
    async with asyncio.timeout(60):
        before = await _ws_seconds(url, settings, 3)
        await asyncio.sleep(3)  # away for three seconds
        after = await _ws_seconds(url, settings, 5, since=before[-1]["ts"])
    _contiguous_after(before[-1]["ts"], after)
    assert any(s["records"] == 2 for s in after)


async def test_an_event_stream_resumes_from_last_event_id(
    settings: Settings, processes: ProcessGroup, live_records: None
) -> None:
    base = start_api(processes, settings)
    async with asyncio.timeout(60):
        first = await _sse_events(base, settings, 2)
        assert first[0] == "retry: 1000"
        last_id = [x for x in first if x.startswith("id: ")][-1].removeprefix("id: ")
        await asyncio.sleep(2.5)
        again = await _sse_events(base, settings, 4, last_event_id=last_id)
    data = [json.loads(x.removeprefix("data: ")) for x in again if x.startswith("data: ")]
    ids = [int(x.removeprefix("id: ")) for x in again if x.startswith("id: ")]
    assert ids == [d["ts"] for d in data]
    _contiguous_after(int(last_id), data)


async def test_a_client_resumes_on_a_restarted_api_process_from_the_kafka_history(
    settings: Settings, processes: ProcessGroup, live_records: None
) -> None:
    url = start_api(processes, settings, "api-1").replace("http://", "ws://") + "/api/v1/live"
    async with asyncio.timeout(90):
        before = await _ws_seconds(url, settings, 2)
        await asyncio.to_thread(processes.kill, "api-1", signal.SIGTERM)
        await asyncio.to_thread(start_api, processes, settings, "api-2")  # a fresh process, empty memory
        after = await _ws_seconds(url, settings, 6, since=before[-1]["ts"])
    _contiguous_after(before[-1]["ts"], after)
    # the seconds while no API process ran came from Kafka, with the workers' counts
    assert all(s["records"] == 2 for s in after[:3]), after


async def test_live_feeds_refuse_a_missing_key_and_a_bad_resume_point(
    settings: Settings, processes: ProcessGroup
) -> None:
    base = start_api(processes, settings)
    url = base.replace("http://", "ws://") + "/api/v1/live"
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url):
            pass
    assert refused.value.response.status_code == 401
    with pytest.raises(InvalidStatus) as bad:
        async with connect(url + "?since=yesterday", subprotocols=key_subprotocols(settings)):
            pass
    assert bad.value.response.status_code == 422
    assert b"since" in bad.value.response.body
    async with connect(f"{url}?api_key={read_key(settings)}") as ws:  # the query key works too
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["ts"] > 0
    async with httpx.AsyncClient(timeout=10) as client:
        assert (await client.get(f"{base}/api/v1/live/stream")).status_code == 401
        wrong = await client.get(f"{base}/api/v1/live/stream", headers={"X-API-Key": "nope"})
        assert wrong.status_code == 401
        bad_id = await client.get(
            f"{base}/api/v1/live/stream", headers={"X-API-Key": read_key(settings), "Last-Event-ID": "x"}
        )
        assert bad_id.status_code == 422 and "Last-Event-ID" in bad_id.json()["detail"]

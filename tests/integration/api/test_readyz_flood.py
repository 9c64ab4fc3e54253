"""/readyz under a flood with a broker that never answers: one probe a second, the loop stays free."""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from failstream.settings import Settings
from tests.integration.api.support import running_api

pytestmark = pytest.mark.integration

FLOOD = 300


@pytest.fixture
def silent_broker() -> Iterator[str]:
    """A TCP port that accepts connections and never says a word: every Kafka call waits out its timeout."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join(5)
    for conn in held:
        conn.close()
    server.close()


async def _flood(url: str) -> tuple[list[int], list[float]]:
    limits = httpx.Limits(max_connections=FLOOD + 10)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:

        async def ready() -> int:
            return (await client.get("/readyz")).status_code

        async def health_latencies() -> list[float]:
            latencies = []
            for _ in range(10):
                started = time.perf_counter()
                assert (await client.get("/healthz")).status_code == 200
                latencies.append(time.perf_counter() - started)
                await asyncio.sleep(0.2)
            return latencies

        flood = asyncio.gather(*(ready() for _ in range(FLOOD)))
        statuses, latencies = await asyncio.gather(flood, health_latencies())
    return list(statuses), latencies


def _probes(url: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    match = re.search(r"^failstream_api_readiness_probes_total (\S+)$", text, re.M)
    assert match, text[:2000]
    return float(match.group(1))


def test_a_readyz_flood_against_a_silent_broker_costs_one_probe_a_second_and_never_stalls_the_api(
    api_settings: Settings, db: Any, silent_broker: str
) -> None:
    stuck = api_settings.model_copy(update={"kafka_bootstrap_servers": silent_broker})
    with running_api(stuck) as url:
        started = time.monotonic()
        statuses, health = asyncio.run(_flood(url))
        elapsed = time.monotonic() - started
        probes = _probes(url)
    assert statuses == [503] * FLOOD
    # one probe per request would queue 300 three-second metadata calls on a handful of threads
    assert elapsed < 20, elapsed
    assert probes <= elapsed + 2, (probes, elapsed)
    assert max(health) < 1.0, health

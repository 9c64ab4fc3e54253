"""What the live-feed tests share: a running API process, live-counts records, WS clients."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import time
from collections.abc import Awaitable, Callable

import httpx
from confluent_kafka import Producer
from websockets.typing import Subprotocol

from failstream.events import LiveCounts
from failstream.kafka_config import confluent_config
from failstream.settings import Settings
from tests.integration.services import ProcessGroup, wait_until


def read_key(settings: Settings) -> str:
    return settings.api_read_keys[0].get_secret_value()


def key_subprotocols(settings: Settings) -> list[Subprotocol]:
    """What the dashboard offers: the live subprotocol and the key as ``apikey.<base64url>``."""
    encoded = base64.urlsafe_b64encode(read_key(settings).encode()).decode().rstrip("=")
    return [Subprotocol("failstream.live.v1"), Subprotocol(f"apikey.{encoded}")]


def start_api(processes: ProcessGroup, settings: Settings, name: str = "api") -> str:
    """The real ``failstream api`` process; its base URL once it answers."""
    processes.start(name, "api", settings)
    base = f"http://127.0.0.1:{settings.api_port}"

    def up() -> bool:
        try:
            return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(up, 60, f"the API on {base} (log: {processes.log_dir / (name + '.log')})")
    return base


class LiveCountsWriter:
    """Writes live-counts records to the real topic, as stream workers do, one per call."""

    def __init__(self, settings: Settings) -> None:
        self._topic = settings.topic_live_counts
        self._producer = Producer({**confluent_config(settings), "linger.ms": 0})

    def write(self, counts: LiveCounts) -> None:
        self._producer.produce(self._topic, counts.model_dump_json().encode())
        self._producer.poll(0)

    def flush(self) -> None:
        assert self._producer.flush(10) == 0, "live-counts records not delivered"


def second_now() -> int:
    return time.time_ns() // 1_000_000_000 * 1000


def expected_failures(ts: int) -> int:
    """What ``write_every_second`` puts into second ``ts``: two records, summed."""
    return (ts // 1000) % 5 + 1 + 10


async def write_every_second(writer: LiveCountsWriter, stop: asyncio.Event) -> None:
    """Two "workers" report every second, at +100 ms and +600 ms, like the stream worker's timer."""
    second = second_now() + 1000
    while not stop.is_set():
        for offset_ms, failures in ((100, (second // 1000) % 5 + 1), (600, 10)):
            await asyncio.sleep(max(0.0, (second + offset_ms) / 1000 - time.time()))
            writer.write(LiveCounts(ts=second, failures=failures, by_reason={"invalid_token": failures}))
        second += 1000


def stalled_websocket(base_url: str, settings: Settings) -> socket.socket:
    """A client that completes the WebSocket handshake and then never reads a byte.

    Its receive buffer is made as small as the kernel allows, so what the server
    sends piles up on the server's side as soon as possible.
    """
    host, port = base_url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    sock.settimeout(10)
    sock.connect((host, int(port)))
    nonce = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /api/v1/live?api_key={read_key(settings)} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {nonce}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)  # byte by byte: not one byte of the stream after the handshake
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


async def poll_until(check: Callable[[], Awaitable[bool]], timeout_s: float, what: str) -> None:
    """Await ``check()`` until it is true (checks that need I/O, so no Event to wait on)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if await check():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        await asyncio.sleep(0.2)


def metric(base: str, name: str) -> float:
    """One unlabelled sample from the API's /metrics."""
    for line in httpx.get(f"{base}/metrics", timeout=10).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")

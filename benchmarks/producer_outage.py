"""Host p99 latency at a steady 500 req/s: normal vs during a broker outage.

A throw-away broker (own ports and data dir; the shared one is never
touched) serves a uvicorn host with the capture middleware. An open-loop
load generator sends bad-token requests at a fixed rate over keep-alive
connections: first with the broker up, then with it stopped (measured once
the 5 s message timeout has passed, so events really go to the spool),
then again after it is back and the spool replayed.

    .venv/bin/python -m benchmarks.producer_outage [--rate 500 --seconds 15]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from benchmarks.producer_bench_app import bench_settings
from failstream.infra import kafka
from failstream.infra.process import ManagedProcess
from failstream.kafka_config import ensure_topics

REQUEST = (
    b"POST /api/items/42 HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer wrong\r\nContent-Length: 0\r\n\r\n"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _load(port: int, rate: int, seconds: float) -> list[float]:
    """Open loop: request i is sent at start + i/rate whatever the earlier ones did."""
    free: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(32):
        free.put_nowait(await asyncio.open_connection("127.0.0.1", port))
    latencies: list[float] = []

    async def one(scheduled: float) -> None:
        reader, writer = await free.get()
        writer.write(REQUEST)
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 401"), head[:40]
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
        await reader.readexactly(length)
        latencies.append(time.perf_counter() - scheduled)
        free.put_nowait((reader, writer))

    start = time.perf_counter()
    tasks = []
    for i in range(int(rate * seconds)):
        scheduled = start + i / rate
        await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
        tasks.append(asyncio.create_task(one(scheduled)))
    await asyncio.gather(*tasks)
    while not free.empty():
        free.get_nowait()[1].close()
    return latencies


def _p(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=15)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-outage-"))
    settings = bench_settings(work / "spool").model_copy(
        update={
            "kafka_bootstrap_servers": f"127.0.0.1:{_free_port()}",
            "infra_kafka_ssl_port": _free_port(),
            "infra_kafka_controller_port": _free_port(),
            "infra_kafka_heap": "384m",
            "producer_message_timeout_ms": 5000,
        }
    )
    broker = ManagedProcess(f"kafka-bench-outage-{uuid.uuid4().hex[:8]}")

    def broker_up() -> None:
        kafka.up(settings, process=broker, data_dir=work / "kafka-data", conf_path=work / "server.properties")

    broker_up()
    ensure_topics(settings)
    port = _free_port()
    env = {**os.environ, **settings.as_env()}
    host = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.producer_bench_app", "--port", str(port), "--capture"],
        env=env,
        start_new_session=True,
    )
    try:
        time.sleep(3)
        asyncio.run(_load(port, args.rate, 3))  # warm-up
        normal = asyncio.run(_load(port, args.rate, args.seconds))
        broker.stop(timeout_s=30)
        time.sleep(settings.producer_message_timeout_ms / 1000 + 1)
        outage = asyncio.run(_load(port, args.rate, args.seconds))
        spooled = sum(p.stat().st_size for p in (work / "spool").rglob("*.seg"))
        broker_up()
        time.sleep(5)  # replay
        after = asyncio.run(_load(port, args.rate, args.seconds))
    finally:
        os.killpg(host.pid, signal.SIGTERM)
        host.wait(timeout=30)
        broker.stop(timeout_s=30)
    base = normal + after
    print(f"{args.rate} req/s open loop, {args.seconds:.0f} s per phase, 32 keep-alive connections")
    for name, values in (("normal (before)", normal), ("broker down", outage), ("normal (after)", after)):
        print(f"{name:16s} n={len(values):5d}  p50 {_p(values, 50):6.2f} ms  p99 {_p(values, 99):6.2f} ms")
    print(f"spool held {spooled:,} bytes at the end of the outage (events waiting for the broker)")
    print(f"p99 outage / p99 normal = {_p(outage, 99) / _p(base, 99):.2f} (target <= 1.1)")


if __name__ == "__main__":
    main()

"""Instructions the host process executes per request, with vs without the middleware.

Requests/s on this shared 2-core machine swing by a quarter from one second
to the next, more than the few per cent this benchmark is about. Counted
instructions do not: each variant of ``benchmarks/producer_bench_app.py``
runs under valgrind's callgrind, takes the same requests over one
keep-alive connection (after a warm-up), and the instructions of every
thread of the host process in that stretch are divided by the requests. The
ratio without / with is what the middleware leaves of a CPU-bound host's
throughput, as far as its own work goes (cache misses and the neighbours'
load are not in it; the HTTP benchmark has those). The capture thread's
work is in the host's count, as it runs in the host process.

The request thread's count is given apart. Under valgrind the host serves
~150 requests/s instead of ~6,000, while the sink's and the capture
threads keep their wall-clock ticks: they run ~40 times as often per
request as in a busy host, so their share here is an upper bound.

    .venv/bin/python -m benchmarks.producer_instructions [--requests 2000]
"""

from __future__ import annotations

import argparse
import glob
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

from benchmarks.producer_bench_app import bench_settings
from failstream.infra.debian import ensure_binary
from failstream.kafka_config import ensure_topics

VARIANTS = {
    "without middleware": [],
    "with middleware": ["--capture"],
    "middleware, discarding sink": ["--discard"],
    "pass-through middleware": ["--passthrough"],
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _load(port: int, requests: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": "Bearer wrong-token", "User-Agent": "bench/1.0"}
    for _ in range(requests):
        conn.request("GET", "/api/items/42", headers=headers)
        response = conn.getresponse()
        response.read()
        assert response.status == 401, response.status
    conn.close()


def _instructions(valgrind: str, flags: list[str], requests: int, out_dir: str) -> tuple[int, int]:
    """Instructions of (every thread, the request thread) of one host process while it served ``requests``."""
    port = _free_port()
    prefix = os.path.join(out_dir, f"cg-{port}")
    argv = [
        valgrind,
        "--tool=callgrind",
        f"--callgrind-out-file={prefix}.%p",
        "--separate-threads=yes",
        sys.executable,
        "-m",
        "benchmarks.producer_bench_app",
        "--port",
        str(port),
        *flags,
    ]
    # a fixed hash seed: dict and set layouts, and so their instruction counts, repeat
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    proc = subprocess.Popen(
        argv, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("server under valgrind did not start") from None
                time.sleep(0.2)
        _load(port, 300)  # warm-up: imports, route compilation, the first produce
        control = ensure_binary("callgrind_control", "valgrind")
        subprocess.run([control, "--zero", str(proc.pid)], check=True, capture_output=True)
        _load(port, requests)
        subprocess.run([control, "--dump", str(proc.pid)], check=True, capture_output=True)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(60)
    total = main_thread = 0
    # the dump after zeroing is part 1; one file per thread (-NN, -01 the main thread)
    for path in glob.glob(f"{prefix}.{proc.pid}.1-*"):
        with open(path) as f:
            match = re.search(r"^(?:summary|totals):\s+(\d+)", f.read(), re.MULTILINE)
        count = int(match.group(1)) if match else 0
        total += count
        if path.endswith("-01"):
            main_thread = count
    return total, main_thread


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    ensure_topics(bench_settings())
    valgrind = ensure_binary("valgrind", "valgrind")
    with tempfile.TemporaryDirectory(prefix="bench-callgrind-") as out_dir:
        counts = {
            name: _instructions(valgrind, flags, args.requests, out_dir) for name, flags in VARIANTS.items()
        }
    base = counts["without middleware"][0] / args.requests
    print(
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {args.requests} requests per variant, "
        "one keep-alive connection, callgrind, PYTHONHASHSEED=0"
    )
    for name, (count, main_thread) in counts.items():
        per, per_main = count / args.requests, main_thread / args.requests
        print(
            f"{name:28s} {per:9,.0f} instructions/request (request thread {per_main:9,.0f})  "
            f"added {per - base:+8,.0f} (request thread {per_main - base:+8,.0f})  "
            f"ratio without/with {base / per:.3f} (request thread {base / per_main:.3f})"
        )


if __name__ == "__main__":
    main()

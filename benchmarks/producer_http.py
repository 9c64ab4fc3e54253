"""Requests/s of a Starlette app answering 401 under uvicorn, with vs without the middleware.

Both servers run side by side (separate processes, same settings); wrk loads
them over real HTTP in alternating rounds (A B C, then C B A, ...) so drift on
the shared machine hits both alike. The verdict is the median of per-round
ratios: two variants measured back to back share the machine's load of that
moment, while the medians of whole columns can come from different moments.
The load average is printed with the results: on a shared machine it says how
far to trust them.

"with middleware" is the one line a host adds: events are built and sent by
the relay child process. "in-process" gives the middleware a KafkaSink in
the host process instead. The relay's own CPU time per request is reported
too: it is off the host's event loop, not free.

    .venv/bin/python -m benchmarks.producer_http [--rounds 8] [--seconds 4] [--discard]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time

from benchmarks.producer_bench_app import TOPIC
from failstream.infra.debian import ensure_binary


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(*flags: str) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    argv = [sys.executable, "-m", "benchmarks.producer_bench_app", "--port", str(port), *flags]
    proc = subprocess.Popen(argv, start_new_session=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def _stat(pid: int) -> tuple[int, float]:
    """(parent pid, CPU time used so far: user + system, every thread) of a process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    return _stat(pid)[1]


def _children_cpu_s(pid: int) -> float:
    """CPU time of the process's direct children (the relay), so far."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            parent, cpu = _stat(int(entry))
        except OSError:
            continue
        if parent == pid:
            total += cpu
    return total


def _wrk(wrk: str, port: int, seconds: int, connections: int) -> tuple[float, int]:
    """(requests/s, requests served) of one wrk run."""
    out = subprocess.run(
        [
            wrk,
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            f"http://127.0.0.1:{port}/api/items/42",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    total = re.search(r"(\d+) requests in", out)
    assert non2xx and total and non2xx.group(1) == total.group(1), "every answer must be the 401"
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert match is not None
    return float(match.group(1)), int(total.group(1))


def _loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--discard",
        action="store_true",
        help="also run the middleware with a discarding sink, and a middleware that records nothing",
    )
    args = parser.parse_args()
    from benchmarks.producer_bench_app import bench_settings
    from failstream.kafka_config import ensure_topics

    ensure_topics(bench_settings())
    wrk = ensure_binary("wrk", "wrk")  # once, not per round
    load_before = _loadavg()
    variants = {
        "without middleware": _serve(),
        "with middleware": _serve("--capture"),
        "with middleware, in-process": _serve("--in-process"),
    }
    if args.discard:
        variants["middleware, discarding sink"] = _serve("--discard")
        variants["pass-through middleware"] = _serve("--passthrough")
    try:
        results: dict[str, list[float]] = {name: [] for name in variants}
        # the server's CPU time per request: unlike req/s, not moved by how much of the
        # machine other processes (wrk, the broker, neighbours) took during the round
        cpu_us: dict[str, list[float]] = {name: [] for name in variants}
        child_cpu_us: dict[str, list[float]] = {name: [] for name in variants}
        for _, port in variants.values():
            _wrk(wrk, port, 2, args.connections)  # warm-up
        names = list(variants)
        for i in range(args.rounds):
            for name in names if i % 2 == 0 else reversed(names):
                proc, port = variants[name]
                cpu0, child0 = _cpu_s(proc.pid), _children_cpu_s(proc.pid)
                rate, served = _wrk(wrk, port, args.seconds, args.connections)
                results[name].append(rate)
                cpu_us[name].append((_cpu_s(proc.pid) - cpu0) / served * 1e6)
                child_cpu_us[name].append((_children_cpu_s(proc.pid) - child0) / served * 1e6)
        print(
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; topic {TOPIC}; "
            f"wrk -t1 -c{args.connections} -d{args.seconds}s x {args.rounds} rounds, alternated; "
            f"load average {load_before} before, {_loadavg()} after"
        )
        without = results["without middleware"]
        base = statistics.median(without)
        for name, values in results.items():
            median = statistics.median(values)
            print(
                f"{name:28s} req/s: {' '.join(f'{r:.0f}' for r in values)}  "
                f"median {median:.0f}  ratio of medians {median / base:.3f}"
            )
        for name, values in results.items():
            if name == "without middleware":
                continue
            paired = [v / wo for v, wo in zip(values, without, strict=True)]
            print(
                f"{name:28s} per-round ratios: {' '.join(f'{r:.2f}' for r in paired)}  "
                f"median {statistics.median(paired):.3f}"
            )
        base_cpu = cpu_us["without middleware"]
        for name, values in cpu_us.items():
            paired = [wo / v for v, wo in zip(values, base_cpu, strict=True)]
            print(
                f"{name:28s} server CPU us/request: {' '.join(f'{v:.0f}' for v in values)}  "
                f"median {statistics.median(values):.1f}  "
                f"per-round without/with {statistics.median(paired):.3f}  "
                f"relay process CPU us/request median {statistics.median(child_cpu_us[name]):.1f}"
            )
        paired = [w / wo for w, wo in zip(results["with middleware"], without, strict=True)]
        print(f"with/without, median per-round ratio {statistics.median(paired):.3f} (target >= 0.97)")
    finally:
        for proc, _ in variants.values():
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)


if __name__ == "__main__":
    main()

"""Requests/s of host apps under uvicorn, with vs without the capture middleware.

Two apps (see ``benchmarks.producer_bench_app``): ``orders``, a realistic
FastAPI endpoint (ten-field pydantic body, bearer-token dependency, JSON
answer) where ``--fail-share`` of the requests (30 %) carry a wrong token and
are captured; and ``items``, a Starlette route that does nothing but answer
401, every request captured. Each runs with and without the middleware, as
separate processes; wrk loads them over real HTTP in alternating rounds
(A B C D, then D C B A, ...) so drift on the shared machine hits all alike.
The verdict is the median of per-round ratios.

The servers are pinned to one core and wrk to the other (``taskset``), so
whatever the capture moves to a thread is paid on the host's own core. The
host's CPU time is read from ``/proc`` per round: per request, and the
extra per failed request (with minus without, over the failed requests).

    .venv/bin/python -m benchmarks.producer_http [--rounds 20] [--seconds 3] [--app orders|items|both]

``--baseline DIR`` adds a "with (baseline)" server per app that runs the
middleware of another checkout (``git worktree add DIR <commit>``), so two
code versions are measured side by side in the same rounds.
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
import tempfile
import time
from pathlib import Path

from benchmarks.process_cpu import cpu_s, stat_cpu_s
from benchmarks.producer_bench_app import TOPIC
from failstream.infra.debian import ensure_binary


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


SERVER_CPU = "0"
LOAD_CPU = "1"


def _serve(*flags: str, tree: Path | None = None) -> tuple[subprocess.Popen[bytes], int]:
    """A bench app server on the server core; from ``tree`` (its failstream and benchmarks) if given."""
    port = _free_port()
    argv = ["taskset", "-c", SERVER_CPU, sys.executable, "-m", "benchmarks.producer_bench_app"]
    argv += ["--port", str(port), *flags]
    env = None if tree is None else {**os.environ, "PYTHONPATH": str(tree)}
    proc = subprocess.Popen(argv, start_new_session=True, env=env, cwd=tree)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def _other_threads_s(pid: int) -> float:
    """CPU time of a process's threads other than its main one (capture, librdkafka, thread pools), in s.

    The process's total minus its main thread's: threads that ended (an idle pool
    thread) stay in the total, where a sum over the live threads would lose them.
    """
    return cpu_s(pid) - stat_cpu_s(f"/proc/{pid}/task/{pid}/stat")


_ORDERS_LUA = """
local body = '{"customer_id": 7, "sku": "SKU-12345", "quantity": 3, "unit_price": 9.99, "currency": "EUR",'
  .. ' "express": false, "coupon": null, "note": "leave at the door", "email": "ann@example.com",'
  .. ' "tags": ["gift", "fragile"]}'
local n = 0
local good, bad
init = function(args)
  local share = tonumber(args[1])
  local headers = {["Content-Type"] = "application/json", ["User-Agent"] = "bench/1.0"}
  headers["Authorization"] = "Bearer " .. args[2]
  good = wrk.format("POST", "/api/orders/42", headers, body)
  headers["Authorization"] = "Bearer wrong-token"
  bad = wrk.format("POST", "/api/orders/42", headers, body)
  fail_every = share
end
request = function()
  n = n + 1
  -- spread evenly: request n fails when floor(n * share) steps up
  if math.floor(n * fail_every) ~= math.floor((n - 1) * fail_every) then return bad end
  return good
end
"""


def _wrk(
    wrk: str, port: int, seconds: int, connections: int, app: str, fail_share: float
) -> tuple[float, int, int]:
    """(requests/s, requests served, of them failed) of one wrk run, wrk pinned to the load core."""
    argv = ["taskset", "-c", LOAD_CPU, wrk, "-t1", f"-c{connections}", f"-d{seconds}s"]
    if app == "orders":
        from benchmarks.producer_bench_app import GOOD_TOKEN

        script = Path(tempfile.gettempdir()) / "failstream-bench-orders.lua"
        script.write_text(_ORDERS_LUA)
        argv += ["-s", str(script), f"http://127.0.0.1:{port}", "--", str(fail_share), GOOD_TOKEN]
    else:
        argv.append(f"http://127.0.0.1:{port}/api/items/42")
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    total = re.search(r"(\d+) requests in", out)
    assert total is not None, out
    failed = int(non2xx.group(1)) if non2xx else 0
    if app == "items":
        assert failed == int(total.group(1)), "every answer must be the 401"
    else:
        assert abs(failed / int(total.group(1)) - fail_share) < 0.02, (failed, total.group(1))
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert match is not None
    return float(match.group(1)), int(total.group(1)), failed


def _loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--app", choices=("orders", "items", "both"), default="both")
    parser.add_argument("--fail-share", type=float, default=0.3, help="share of orders requests failing auth")
    parser.add_argument(
        "--discard",
        action="store_true",
        help="also run the middleware with a discarding sink, and a middleware that records nothing",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        help="a checkout of another commit (git worktree) whose middleware also runs, as 'with (baseline)'",
    )
    args = parser.parse_args()
    from benchmarks.producer_bench_app import bench_settings
    from failstream.kafka_config import ensure_topics

    ensure_topics(bench_settings())
    wrk = ensure_binary("wrk", "wrk")  # once, not per round
    load_before = _loadavg()
    apps = ("orders", "items") if args.app == "both" else (args.app,)
    variants: dict[tuple[str, str], tuple[subprocess.Popen[bytes], int]] = {}
    for app in apps:
        variants[(app, "without")] = _serve("--app", app)
        variants[(app, "with")] = _serve("--app", app, "--capture")
        if args.baseline is not None:
            variants[(app, "with (baseline)")] = _serve("--app", app, "--capture", tree=args.baseline)
        if args.discard:
            variants[(app, "discarding sink")] = _serve("--app", app, "--discard")
            variants[(app, "pass-through")] = _serve("--app", app, "--passthrough")
    try:
        rates: dict[tuple[str, str], list[float]] = {key: [] for key in variants}
        # the server's CPU time: unlike req/s, not moved by how much of the machine
        # other processes (the broker, neighbours) took during the round
        cpu_us: dict[tuple[str, str], list[float]] = {key: [] for key in variants}
        cpu_s: dict[tuple[str, str], list[tuple[float, int, int]]] = {key: [] for key in variants}
        others_us: dict[tuple[str, str], list[float]] = {key: [] for key in variants}
        for key, (_, port) in variants.items():
            _wrk(wrk, port, 2, args.connections, key[0], args.fail_share)  # warm-up
        keys = list(variants)
        for i in range(args.rounds):
            for key in keys if i % 2 == 0 else reversed(keys):
                proc, port = variants[key]
                cpu0, others0 = cpu_s(proc.pid), _other_threads_s(proc.pid)
                rate, served, failed = _wrk(
                    wrk, port, args.seconds, args.connections, key[0], args.fail_share
                )
                used = cpu_s(proc.pid) - cpu0
                others_us[key].append((_other_threads_s(proc.pid) - others0) / served * 1e6)
                rates[key].append(rate)
                cpu_us[key].append(used / served * 1e6)
                cpu_s[key].append((used, served, failed))
        print(
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; topic {TOPIC}; "
            f"servers on CPU {SERVER_CPU}, wrk on CPU {LOAD_CPU}; "
            f"wrk -t1 -c{args.connections} -d{args.seconds}s x {args.rounds} rounds, "
            f"{'' if args.baseline is None else f'baseline {args.baseline}, '}"
            f"alternated; orders fail share {args.fail_share}; "
            f"load average {load_before} before, {_loadavg()} after"
        )
        for app in apps:
            base = rates[(app, "without")]
            base_cpu = cpu_s[(app, "without")]
            for key in keys:
                if key[0] != app:
                    continue
                values = rates[key]
                line = (
                    f"{app:6s} {key[1]:16s} req/s median {statistics.median(values):7.0f}  "
                    f"host CPU us/request median {statistics.median(cpu_us[key]):6.1f} "
                    f"(other threads {statistics.median(others_us[key]):4.1f})"
                )
                if key[1] != "without":
                    paired = [v / wo for v, wo in zip(values, base, strict=True)]
                    # extra host CPU per captured request: this round's CPU per request minus the bare
                    # app's in the same round, times requests per failure
                    extra = [
                        (used / served - b_used / b_served) * served / failed * 1e6
                        for (used, served, failed), (b_used, b_served, _) in zip(
                            cpu_s[key], base_cpu, strict=True
                        )
                        if failed
                    ]
                    line += (
                        f"  per-round ratio median {statistics.median(paired):.3f} "
                        f"(min {min(paired):.3f}, max {max(paired):.3f}); "
                        f"extra host CPU per failed request median {statistics.median(extra):.1f} us"
                    )
                print(line)
    finally:
        for proc, _ in variants.values():
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)


if __name__ == "__main__":
    main()

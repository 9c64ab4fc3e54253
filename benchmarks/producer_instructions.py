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

The ``orders`` app (``--app orders``) takes POST /api/orders/42 with the
JSON body of ``benchmarks.producer_http``'s wrk script, three requests in
ten (spread as wrk spreads them) with a wrong token. Every run gives the
request thread's instructions in the garbage collector (``gc_collect_main``
and what it calls). ``--functions N`` adds, per variant, the N functions
whose own instructions on the request thread changed most against no
middleware; ``--cache-sim`` its simulated first- and last-level cache misses
and cachegrind's estimated cycles; ``--keep DIR`` keeps the callgrind files.

``--in-process N`` counts, without server or socket, the request thread's
instructions per call of the middleware around an endpoint that answers
401 (N calls against none), for no middleware, the pass-through one and
ours with a discarding sink: the middleware's own work per failed request,
free of the server's run-to-run spread (a few thousand instructions here).

``--gc-count`` runs the variants without valgrind instead and counts the
collector's runs per generation and thread per 1,000 requests (``gc.callbacks``,
``producer_bench_app --gc-log``). The load is one connection's, a fraction of
wrk's, so the capture thread's batches are smaller than in the HTTP benchmark.

    .venv/bin/python -m benchmarks.producer_instructions [--requests 2000] [--app orders|items]
        [--functions 25] [--cache-sim] [--keep DIR] [--gc-count] [--in-process 20000]
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import http.client
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any, cast

from benchmarks.producer_bench_app import GOOD_TOKEN, DiscardingSink, PassThrough, bench_settings
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


#: the body of ``benchmarks.producer_http``'s orders wrk script
ORDER_BODY = json.dumps(
    {
        "customer_id": 7,
        "sku": "SKU-12345",
        "quantity": 3,
        "unit_price": 9.99,
        "currency": "EUR",
        "express": False,
        "coupon": None,
        "note": "leave at the door",
        "email": "ann@example.com",
        "tags": ["gift", "fragile"],
    }
).encode()
#: share of orders requests with a wrong token, as ``producer_http --fail-share`` by default
FAIL_SHARE = 0.3


def _fails(n: int) -> bool:
    """Whether the n-th request (from 1) carries a wrong token: as the wrk script spreads them."""
    return math.floor(n * FAIL_SHARE) != math.floor((n - 1) * FAIL_SHARE)


def _load(port: int, requests: int, app: str = "items") -> None:
    """Send ``requests`` over one keep-alive connection, checking each answer."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    if app == "items":
        headers = {"Authorization": "Bearer wrong-token", "User-Agent": "bench/1.0"}
        for _ in range(requests):
            conn.request("GET", "/api/items/42", headers=headers)
            response = conn.getresponse()
            response.read()
            assert response.status == 401, response.status
        conn.close()
        return
    base = {"Content-Type": "application/json", "User-Agent": "bench/1.0"}
    good = {**base, "Authorization": f"Bearer {GOOD_TOKEN}"}
    bad = {**base, "Authorization": "Bearer wrong-token"}
    for n in range(1, requests + 1):
        fails = _fails(n)
        conn.request("POST", "/api/orders/42", body=ORDER_BODY, headers=bad if fails else good)
        response = conn.getresponse()
        response.read()
        assert response.status == (401 if fails else 200), response.status
    conn.close()


def _instructions(
    valgrind: str, flags: list[str], requests: int, out_dir: str, app: str = "items", cache_sim: bool = False
) -> tuple[int, int, str]:
    """Instructions of (every thread, the request thread) of one host process while it served ``requests``,
    and the request thread's callgrind file."""
    port = _free_port()
    prefix = os.path.join(out_dir, f"cg-{port}")
    argv = [
        valgrind,
        "--tool=callgrind",
        f"--callgrind-out-file={prefix}.%p",
        "--separate-threads=yes",
        *(["--cache-sim=yes"] if cache_sim else []),
        sys.executable,
        "-m",
        "benchmarks.producer_bench_app",
        "--port",
        str(port),
        "--app",
        app,
        *flags,
    ]
    # a fixed hash seed: dict and set layouts, and so their instruction counts, repeat
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    proc = subprocess.Popen(
        argv, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait_for(port, 300)
        _load(port, 300, app)  # warm-up: imports, route compilation, the first produce
        control = ensure_binary("callgrind_control", "valgrind")
        subprocess.run([control, "--zero", str(proc.pid)], check=True, capture_output=True)
        _load(port, requests, app)
        subprocess.run([control, "--dump", str(proc.pid)], check=True, capture_output=True)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(60)
    total = main_thread = 0
    main_file = ""
    # the dump after zeroing is part 1; one file per thread (-NN, -01 the main thread)
    for path in glob.glob(f"{prefix}.{proc.pid}.1-*"):
        with open(path) as f:
            match = re.search(r"^(?:summary|totals):\s+(\d+)", f.read(), re.MULTILINE)
        count = int(match.group(1)) if match else 0
        total += count
        if path.endswith("-01"):
            main_thread, main_file = count, path
    return total, main_thread, main_file


IN_PROCESS = ("bare", "pass-through", "capture")


def _serve_in_process(variant: str, calls: int) -> None:
    """Under valgrind: 300 warm-up calls, then ``calls`` more, of ``variant`` around a 401 endpoint."""
    import asyncio

    from failstream.producer.asgi import FailureCaptureMiddleware

    class Route:  # what Starlette and FastAPI leave in scope["route"]
        path = "/api/orders/{order_id}"

    route = Route()
    start = {
        "type": "http.response.start",
        "status": 401,
        "headers": [
            (b"content-length", b"26"),
            (b"content-type", b"application/json"),
            (b"www-authenticate", b"Bearer"),
        ],
    }
    body = {"type": "http.response.body", "body": b'{"detail":"invalid token"}'}
    # what http.client sends for an orders request with a wrong token
    headers = [
        (b"host", b"127.0.0.1:8000"),
        (b"accept-encoding", b"identity"),
        (b"content-length", str(len(ORDER_BODY)).encode()),
        (b"content-type", b"application/json"),
        (b"user-agent", b"bench/1.0"),
        (b"authorization", b"Bearer wrong-token"),
    ]

    async def endpoint(scope: Any, receive: Any, send: Any) -> None:
        scope["route"] = route
        await send(start)
        await send(body)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": ORDER_BODY, "more_body": False}

    async def send(message: Any) -> None:
        return None

    app: Any = endpoint
    if variant == "pass-through":
        app = PassThrough(endpoint)
    elif variant == "capture":
        app = FailureCaptureMiddleware(endpoint, settings=bench_settings(), sink=cast(Any, DiscardingSink()))

    async def serve() -> None:
        for _ in range(300 + calls):
            scope = {
                "type": "http",
                "method": "POST",
                "path": "/api/orders/42",
                "headers": headers,
                "client": ("127.0.0.1", 50000),
                "state": {},
            }
            await app(scope, receive, send)

    asyncio.run(serve())


def _in_process(valgrind: str, variant: str, calls: int, out_dir: str) -> tuple[int, int]:
    """The request thread's instructions, and those in the collector, of one ``_serve_in_process`` run."""
    prefix = os.path.join(out_dir, f"in-process-{variant}-{calls}")
    argv = [valgrind, "--tool=callgrind", "--separate-threads=yes", f"--callgrind-out-file={prefix}.%p"]
    argv += [
        sys.executable,
        "-m",
        "benchmarks.producer_instructions",
        "--serve-in-process",
        variant,
        str(calls),
    ]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    (path,) = glob.glob(f"{prefix}.*-01")
    return _events(path).get("Ir", 0), _functions(path).get(GC_FUNCTION, (0, 0))[1]


def _print_in_process(calls: int) -> None:
    valgrind = ensure_binary("valgrind", "valgrind")
    per_call = {}
    with tempfile.TemporaryDirectory(prefix="bench-callgrind-") as out_dir:
        for variant in IN_PROCESS:
            (count, gc_count), (count_0, gc_count_0) = (
                _in_process(valgrind, variant, n, out_dir) for n in (calls, 0)
            )
            per_call[variant] = ((count - count_0) / calls, (gc_count - gc_count_0) / calls)
    print(
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; in process, no server: request thread's "
        f"instructions per call of an endpoint answering 401, {calls} calls against none, PYTHONHASHSEED=0"
    )
    bare = per_call["bare"][0]
    for variant, (count, gc_count) in per_call.items():
        print(
            f"{variant:14s} {count:8,.0f}  added {count - bare:+8,.0f}  "
            f"of it in the collector {gc_count:7,.0f}"
        )


def _collections(flags: list[str], requests: int, app: str, out_dir: str) -> dict[str, dict[str, float]]:
    """Collections per (thread, generation), and their time, while a plain host served ``requests``."""
    port = _free_port()
    log = os.path.join(out_dir, f"gc-{port}.json")
    argv = [sys.executable, "-m", "benchmarks.producer_bench_app", "--port", str(port), "--app", app]
    argv += [*flags, "--gc-log", log]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    proc = subprocess.Popen(argv, env=env, start_new_session=True, stdout=subprocess.DEVNULL)

    def totals() -> dict[str, dict[str, float]]:
        with contextlib.suppress(FileNotFoundError):
            os.remove(log)
        os.kill(proc.pid, signal.SIGUSR1)
        deadline = time.monotonic() + 30
        while not os.path.exists(log):
            if time.monotonic() > deadline:
                raise RuntimeError("the host wrote no collection counts")
            time.sleep(0.05)
        with open(log) as f:
            return dict(json.load(f)["collections"])

    try:
        _wait_for(port, 60)
        _load(port, 1000, app)
        before = totals()
        _load(port, requests, app)
        after = totals()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(60)
    return {
        key: {field: value - before.get(key, {}).get(field, 0) for field, value in entry.items()}
        for key, entry in sorted(after.items())
    }


def _wait_for(port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not start") from None
            time.sleep(0.2)


def _events(callgrind_file: str) -> dict[str, int]:
    """The totals of every event of one callgrind file (Ir, and with ``--cache-sim`` the misses)."""
    with open(callgrind_file) as f:
        text = f.read()
    names = re.search(r"^events:\s+(.*)$", text, re.MULTILINE)
    totals = re.search(r"^(?:summary|totals):\s+(.*)$", text, re.MULTILINE)
    if names is None or totals is None:
        return {}
    return dict(zip(names.group(1).split(), map(int, totals.group(1).split()), strict=False))


def _estimated_cycles(events: dict[str, int]) -> int:
    """Cachegrind's estimate: Ir + 10 x first-level misses + 100 x last-level misses."""
    first = sum(events.get(name, 0) for name in ("I1mr", "D1mr", "D1mw"))
    last = sum(events.get(name, 0) for name in ("ILmr", "DLmr", "DLmw"))
    return events.get("Ir", 0) + 10 * first + 100 * last


#: the collector's entry point in CPython 3.11: every collection, whichever generation, runs under it
GC_FUNCTION = "gc_collect_main"


def _functions(callgrind_file: str) -> dict[str, tuple[int, int]]:
    """(self, inclusive) instructions per function name of one callgrind file.

    Read from the file itself: ``callgrind_annotate`` 3.19 prints inclusive
    counts for these files whatever ``--inclusive`` says. Inclusive is the
    function's own cost plus its calls', exact for a function outside a
    recursion (``gc_collect_main``), not for the interpreter's own frames.
    """
    names: dict[str, str] = {}
    costs: dict[str, list[int]] = {}
    current: list[int] | None = None
    call_cost = False  # the next cost line is a call's inclusive cost
    with open(callgrind_file) as f:
        for line in f:
            match = re.match(r"(c?fn)=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
            if match:
                if match.group(3):
                    names[match.group(2)] = match.group(3)
                if match.group(1) == "fn":
                    current = costs.setdefault(names[match.group(2)], [0, 0])
                continue
            if line.startswith("calls="):
                call_cost = True
                continue
            if current is not None and line[:1] in "0123456789+-*":
                fields = line.split()
                if len(fields) < 2:
                    continue
                cost = int(fields[1])
                if not call_cost:
                    current[0] += cost
                current[1] += cost
                call_cost = False
    return {name: (own, inclusive) for name, (own, inclusive) in costs.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--app", choices=("items", "orders"), default="items")
    parser.add_argument(
        "--functions", type=int, default=0, help="the N functions whose own instructions changed most"
    )
    parser.add_argument("--keep", help="copy the callgrind files into this directory")
    parser.add_argument("--gc-count", action="store_true", help="count collections in plain runs instead")
    parser.add_argument("--in-process", type=int, default=0, help="N calls of the middleware, no server")
    parser.add_argument("--serve-in-process", nargs=2, help=argparse.SUPPRESS)  # the valgrind child's
    parser.add_argument(
        "--cache-sim", action="store_true", help="simulate the caches: the request thread's misses and cycles"
    )
    args = parser.parse_args()
    if args.serve_in_process:
        _serve_in_process(args.serve_in_process[0], int(args.serve_in_process[1]))
        return
    if args.in_process:
        _print_in_process(args.in_process)
        return
    ensure_topics(bench_settings())
    if args.gc_count:
        _print_collections(args.requests, args.app)
        return
    valgrind = ensure_binary("valgrind", "valgrind")
    with tempfile.TemporaryDirectory(prefix="bench-callgrind-") as out_dir:
        counts = {
            name: _instructions(valgrind, flags, args.requests, out_dir, args.app, args.cache_sim)
            for name, flags in VARIANTS.items()
        }
        functions = {name: _functions(main_file) for name, (_, _, main_file) in counts.items()}
        events = {name: _events(main_file) for name, (_, _, main_file) in counts.items()}
        if args.keep:
            os.makedirs(args.keep, exist_ok=True)
            for name, (_, _, main_file) in counts.items():
                for path in glob.glob(main_file.rpartition("-")[0] + "-*"):
                    slug = re.sub(r"\W+", "-", name).strip("-")
                    shutil.copy(path, os.path.join(args.keep, f"{args.app}-{slug}{path[path.rindex('-') :]}"))
    base, base_main, _ = counts["without middleware"]
    base, base_main = base / args.requests, base_main / args.requests
    base_gc = functions["without middleware"].get(GC_FUNCTION, (0, 0))[1] / args.requests
    print(
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; app {args.app}; {args.requests} requests "
        "per variant, one keep-alive connection, callgrind, PYTHONHASHSEED=0"
    )
    for name, (count, main_thread, _) in counts.items():
        per, per_main = count / args.requests, main_thread / args.requests
        print(
            f"{name:28s} {per:9,.0f} instructions/request (request thread {per_main:9,.0f})  "
            f"added {per - base:+8,.0f} (request thread {per_main - base_main:+8,.0f})  "
            f"ratio without/with {base / per:.3f} (request thread {base_main / per_main:.3f})"
        )
    print("request thread, per request: all / of it in the garbage collector (gc_collect_main, inclusive)")
    for name, (_, main_thread, _) in counts.items():
        per_main = main_thread / args.requests
        gc_per = functions[name].get(GC_FUNCTION, (0, 0))[1] / args.requests
        print(
            f"{name:28s} {per_main:9,.0f} / gc {gc_per:8,.0f}  "
            f"added {per_main - base_main:+8,.0f} of it gc {gc_per - base_gc:+8,.0f}, "
            f"other {per_main - base_main - gc_per + base_gc:+8,.0f}"
        )
    if args.cache_sim:
        print(
            "request thread, per request, simulated caches (one hierarchy for all threads, as valgrind "
            "serialises them): first-level misses, last-level misses, "
            "estimated cycles (Ir + 10 L1m + 100 LLm)"
        )
        base_cycles = _estimated_cycles(events["without middleware"]) / args.requests
        for name, per_event in events.items():
            first = sum(per_event.get(e, 0) for e in ("I1mr", "D1mr", "D1mw")) / args.requests
            last = sum(per_event.get(e, 0) for e in ("ILmr", "DLmr", "DLmw")) / args.requests
            cycles = _estimated_cycles(per_event) / args.requests
            print(
                f"{name:28s} L1m {first:8,.0f}  LLm {last:7,.0f}  cycles {cycles:10,.0f}  "
                f"added {cycles - base_cycles:+8,.0f}"
            )
    if args.functions:
        print(
            f"request thread, per request: the {args.functions} functions' own instructions that changed most"
        )
        without = functions["without middleware"]
        for name, per_function in functions.items():
            if name == "without middleware":
                continue
            print(f"  {name} against without middleware")
            added = {
                fn: (per_function.get(fn, (0, 0))[0] - without.get(fn, (0, 0))[0]) / args.requests
                for fn in set(per_function) | set(without)
            }
            for fn in sorted(added, key=lambda fn: -abs(added[fn]))[: args.functions]:
                print(f"    {added[fn]:+9,.0f}  {fn}")


def _print_collections(requests: int, app: str) -> None:
    print(
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; app {app}; {requests} requests per variant, "
        "one keep-alive connection, no valgrind; collections (and their ms) per 1,000 requests"
    )
    with tempfile.TemporaryDirectory(prefix="bench-gc-") as out_dir:
        for name, flags in VARIANTS.items():
            counts = _collections(flags, requests, app, out_dir)
            per = 1000 / requests
            cells = [
                f"{key} {entry['collections'] * per:6.2f} ({entry['ns'] / 1e6 * per:6.2f} ms)"
                for key, entry in counts.items()
                if entry["collections"]
            ]
            print(f"{name:28s} " + ("  ".join(cells) or "none"))


if __name__ == "__main__":
    main()

"""Where a worker's time per event goes, outside Faust: decode, detection, state bytes.

    .venv/bin/python -m benchmarks.stream_profile [--events 100000] [--ips 10000]

The same batch code the worker runs, on a dict instead of a Faust table, timed
per stage (``--flush-every`` batches share one flush of the changed states, as
the worker's ``stream_state_flush_s`` lets them); compare with the worker's
events/s (stream_throughput) to see what Faust's path and changelog writes cost on top.
"""

from __future__ import annotations

import argparse
import time

from benchmarks.stream_common import events
from failstream.settings import Settings
from failstream.stream_app.live_counts import LiveCountsAccumulator
from failstream.stream_app.processing import FailureBatches, Record
from failstream.stream_app.worker import tune_collector


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--ips", type=int, default=10_000)
    ap.add_argument("--flush-every", type=int, default=1, help="batches of 1,000 between state flushes")
    args = ap.parse_args()
    records = [Record("t", 0, i, k, v) for i, (k, v) in enumerate(events(args.events, args.ips))]
    table: dict[bytes, bytes] = {}
    batches = FailureBatches(Settings(), table, None, LiveCountsAccumulator())
    tune_collector()  # the worker's collector settings
    spent = {"decode": 0.0, "detect": 0.0, "flush": 0.0}
    per_flush = max(1, args.flush_every)
    for n, i in enumerate(range(0, len(records), 1000), start=1):
        t0 = time.perf_counter()
        decoded = batches.decode(records[i : i + 1000])
        t1 = time.perf_counter()
        batches.detect(decoded)
        t2 = time.perf_counter()
        if n % per_flush == 0:
            batches.states.flush()
        t3 = time.perf_counter()
        spent["decode"] += t1 - t0
        spent["detect"] += t2 - t1
        spent["flush"] += t3 - t2
    total = sum(spent.values())
    for stage, s in spent.items():
        print(f"{stage:7s} {s / args.events * 1e6:6.1f} us/event ({s / total:4.0%})")
    print(
        f"all     {total / args.events * 1e6:6.1f} us/event = {args.events / total:,.0f} events/s on one core"
    )


if __name__ == "__main__":
    main()

"""Memory per tracked IP: detection state for 100 000 distinct IPs in the window.

    .venv/bin/python -m benchmarks.stream_memory [--ips 100000] [--per-ip 4]

Runs the worker's own batch code (decode -> detection -> state bytes) into a
dict, which is what Faust's memory store holds per key (key bytes -> value
bytes), and measures the heap growth with tracemalloc.
"""

from __future__ import annotations

import argparse
import random
import tracemalloc

from benchmarks.stream_common import failure
from failstream.producer.events import now_ms
from failstream.settings import Settings
from failstream.stream_app.live_counts import LiveCountsAccumulator
from failstream.stream_app.processing import FailureBatches, Record


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ips", type=int, default=100_000)
    ap.add_argument("--per-ip", type=int, default=4, help="failures per IP (below the threshold of 5)")
    args = ap.parse_args()
    rng = random.Random(3)
    t = now_ms()
    records = []
    for round_ in range(args.per_ip):
        for k in range(args.ips):
            ip = f"10.{k // 65536 % 256}.{k // 256 % 256}.{k % 256}"
            value = failure(ip, t + round_ * 1000 + k % 1000, rng)
            records.append(Record("bench", 0, len(records), ip.encode(), value))
    table: dict[bytes, bytes] = {}
    batches = FailureBatches(Settings(), table, None, LiveCountsAccumulator())
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(0, len(records), 1000):
        batches.detect(batches.decode(records[i : i + 1000]))
        batches.states.flush()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    per_ip = (after - before) / len(table)
    sample = next(iter(table.values()))
    print(f"ips={len(table)} failures/ip={args.per_ip} state bytes/ip (value)={len(sample)}")
    print(f"heap growth {(after - before) / 2**20:.1f} MiB = {per_ip:.0f} bytes per tracked IP")


if __name__ == "__main__":
    main()

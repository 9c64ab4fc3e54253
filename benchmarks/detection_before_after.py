"""Detection CPU per failure at one commit against another, side by side, with no broker.

    .venv/bin/python -m benchmarks.detection_before_after --base REV [--events 100000]
        [--ips 10000 100] [--rounds 5] [--flush-every 1]

``REV`` is checked out in a temporary git worktree. Every round runs one
measuring script in a fresh interpreter on that tree's ``failstream`` and on
this one's (which goes first alternates), for each ``--ips``: the worker's
batch code (``FailureBatches``: decode, detection with its state look-ups,
state flush every ``--flush-every`` batches of 1,000; the worker flushes
every ``stream_state_flush_s``) on a dict instead of a Faust table, timed
in CPU seconds (``process_time``), so the two share whatever else the
machine is doing.
Reported per failure: detection (``detect``, which decodes each state it
needs) plus the flush (which encodes them), and the ratio after/before per
round and of medians.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from benchmarks.trees import base_worktree, run_in_tree
from failstream.settings import ROOT

SCRIPT = """
import json, sys, time
from benchmarks.stream_common import events
from failstream.settings import Settings
from failstream.stream_app.live_counts import LiveCountsAccumulator
from failstream.stream_app.processing import FailureBatches, Record

n, ips, flush_every = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
records = [Record("t", 0, i, k, v) for i, (k, v) in enumerate(events(n, ips))]
table = {}
batches = FailureBatches(Settings(), table, None, LiveCountsAccumulator())
decode = detect = flush = 0.0
for batch, i in enumerate(range(0, n, 1000), start=1):
    t0 = time.process_time()
    decoded = batches.decode(records[i : i + 1000])
    t1 = time.process_time()
    batches.detect(decoded)
    t2 = time.process_time()
    if batch % flush_every == 0 or i + 1000 >= n:
        batches.states.flush()
    t3 = time.process_time()
    decode += t1 - t0
    detect += t2 - t1
    flush += t3 - t2
size = sum(len(v) for v in table.values()) / max(1, len(table))
us = {"decode": decode / n * 1e6, "detect": detect / n * 1e6, "flush": flush / n * 1e6}
print(json.dumps({**us, "bytes": size}))
"""


def _measure(tree: Path, events: int, ips: int, flush_every: int) -> dict[str, float]:
    return run_in_tree(tree, SCRIPT, events, ips, flush_every)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True, help="the commit to compare against")
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--ips", type=int, nargs="+", default=[10_000, 100])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--flush-every", type=int, default=1, help="batches of 1,000 between state flushes")
    args = ap.parse_args()
    with base_worktree(args.base, "detection-base-") as base:
        for ips in args.ips:
            before: list[dict[str, float]] = []
            after: list[dict[str, float]] = []
            for round_ in range(args.rounds):
                # which goes first alternates, so neither always runs on a warmer (or busier) machine
                if round_ % 2:
                    after.append(_measure(ROOT, args.events, ips, args.flush_every))
                    before.append(_measure(base, args.events, ips, args.flush_every))
                else:
                    before.append(_measure(base, args.events, ips, args.flush_every))
                    after.append(_measure(ROOT, args.events, ips, args.flush_every))
            b = [r["detect"] + r["flush"] for r in before]
            a = [r["detect"] + r["flush"] for r in after]
            label = f"{args.events:,} failures over {ips:,} IPs, flush every {args.flush_every * 1000:,}"
            for name, runs in (("before", b), ("after ", a)):
                rounded = [round(x, 2) for x in runs]
                print(
                    f"{label}: detect+flush {name} {rounded} us/failure, median {statistics.median(runs):.2f}"
                )
            ratios = [x / y for x, y in zip(a, b, strict=True)]
            print(
                f"{label}: after/before per round {[round(r, 3) for r in ratios]}, "
                f"of medians {statistics.median(a) / statistics.median(b):.3f}"
            )
            for stage in ("decode", "detect", "flush"):
                mb = statistics.median(r[stage] for r in before)
                ma = statistics.median(r[stage] for r in after)
                print(f"{label}:   {stage:6s} median before {mb:.2f}, after {ma:.2f} us/failure")
            print(
                f"{label}: state bytes per IP before {before[0]['bytes']:.0f}, after {after[0]['bytes']:.0f}"
            )


if __name__ == "__main__":
    main()

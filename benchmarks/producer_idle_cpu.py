"""CPU of a host whose capture sink is idle or sees a trickle of failures, at a base commit and this one.

    .venv/bin/python -m benchmarks.producer_idle_cpu --base REV [--rates 0 10] [--seconds 10] [--rounds 3]

``REV`` is checked out in a temporary git worktree. Each run is a fresh
interpreter with a started ``KafkaSink`` on the configured broker that sends
``rate`` events a second from its main thread (0: none) for ``--seconds``;
its CPU seconds (every thread's, ``process_time``) per wall second are
reported, and per event sent. Before and after alternate which goes first.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from benchmarks.trees import base_worktree, run_in_tree
from failstream.settings import ROOT

SCRIPT = """
import json, sys, tempfile, time
from pathlib import Path
from failstream.producer.sink import KafkaSink
from failstream.settings import Settings

rate, seconds = float(sys.argv[1]), float(sys.argv[2])
settings = Settings()
sink = KafkaSink(settings, spool_dir=Path(tempfile.mkdtemp()))
sink.start()
sink.send(settings.topic_failed_requests, b"k", b"{}")
sink.flush(10)
time.sleep(1)
sent, start, cpu = 0, time.monotonic(), time.process_time()
while (now := time.monotonic()) - start < seconds:
    if rate:
        sink.send(settings.topic_failed_requests, b"k", b"{}")
        sent += 1
        time.sleep(max(0.0, start + sent / rate - time.monotonic()))
    else:
        time.sleep(0.5)
used = time.process_time() - cpu
sink.close(10)
print(json.dumps({"cpu_per_s": used / seconds, "sent": sent}))
"""


def _measure(tree: Path, rate: float, seconds: float) -> dict[str, float]:
    return run_in_tree(tree, SCRIPT, rate, seconds)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--rates", type=float, nargs="+", default=[0.0, 10.0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with base_worktree(args.base, "idle-base-") as base:
        for rate in args.rates:
            runs: dict[str, list[float]] = {"before": [], "after": []}
            for round_ in range(args.rounds):
                order = [("before", base), ("after", ROOT)]
                for name, tree in order[::-1] if round_ % 2 else order:
                    runs[name].append(_measure(tree, rate, args.seconds)["cpu_per_s"] * 1000)
            for name, ms in runs.items():
                per_event = f", {statistics.median(ms) / rate * 1000:.1f} us per event" if rate else ""
                median = statistics.median(ms)
                rounded = [round(x, 2) for x in ms]
                print(f"{rate:g} events/s {name:6s}: {rounded} ms CPU/s, median {median:.2f}{per_event}")


if __name__ == "__main__":
    main()

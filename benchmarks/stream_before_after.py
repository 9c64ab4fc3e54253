"""The worker (and the worker with its persister) at one commit against another, side by side.

    .venv/bin/python -m benchmarks.stream_before_after --base REV [--events 200000] [--ips 10000]
        [--mongo-events 20000] [--mongo-ips 100] [--rounds 3]

``REV`` is checked out in a temporary git worktree; every round runs the
worker of that tree and of this one on the same topic, alternating, so both
share whatever else the machine is doing. Each rate is measured as
``benchmarks.stream_throughput`` measures it; the ratio after/before is
reported per round and as the ratio of medians.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

from benchmarks.stream_common import drop_topics, events, isolated, produce_all
from benchmarks.stream_throughput import worker_rate
from benchmarks.trees import base_worktree
from failstream.settings import ROOT, Settings


def _rate_in(tree: Path, settings: Settings, n: int, persist: bool, log_dir: Path) -> float:
    """The worker of ``tree``: its modules first on the started process's path."""
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(tree)
    try:
        return worker_rate(settings, n, persist=persist, log_dir=log_dir)
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved


def _side_by_side(label: str, base: Path, settings: Settings, n: int, persist: bool, rounds: int) -> None:
    log_dir = Path(tempfile.mkdtemp(prefix="stream-before-after-"))
    before: list[float] = []
    after: list[float] = []
    for _ in range(rounds):
        before.append(_rate_in(base, settings, n, persist, log_dir))
        after.append(_rate_in(ROOT, settings, n, persist, log_dir))
    ratios = [a / b for a, b in zip(after, before, strict=True)]
    mb, ma = statistics.median(before), statistics.median(after)
    print(f"{label}: before {[round(r) for r in before]} ev/s, median {mb:,.0f}")
    print(f"{label}: after  {[round(r) for r in after]} ev/s, median {ma:,.0f}")
    print(f"{label}: after/before per round {[round(r, 3) for r in ratios]}, of medians {ma / mb:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True, help="the commit to compare against")
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--ips", type=int, default=10_000)
    ap.add_argument("--mongo-events", type=int, default=20_000)
    ap.add_argument("--mongo-ips", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with base_worktree(args.base, "stream-base-") as base:
        settings = isolated("ba")
        try:
            produce_all(settings, events(args.events, args.ips))
            _side_by_side("worker, no MongoDB", base, settings, args.events, False, args.rounds)
        finally:
            drop_topics(settings, settings.topic_failed_requests.removesuffix("-failed-requests"))
        if args.mongo_events:
            mongo = isolated("ba-mongo")
            try:
                produce_all(mongo, events(args.mongo_events, args.mongo_ips, seed=2))
                _side_by_side("worker + persister", base, mongo, args.mongo_events, True, args.rounds)
            finally:
                drop_topics(mongo, mongo.topic_failed_requests.removesuffix("-failed-requests"))


if __name__ == "__main__":
    main()

"""CPU the capture thread spends per failure in ``FailureRecorder.record``, without Kafka.

Client IP, reason, event id, trace id, ``before_send``, JSON, handed to a
sink that discards it: the capture thread's own work per event, which a
host pays on its cores besides the request thread's append. Each variant is
timed in blocks of 20,000 calls; the minimum block mean is printed (the
least disturbed by other processes). The ``plain`` variant runs on older
trees too, for before/after comparisons.

    .venv/bin/python -m benchmarks.producer_record_cost [--blocks 30]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from failstream.producer.capture import FailureRecorder
from failstream.settings import Settings

CALLS = 20_000
FACTS = ("203.0.113.9", None, None, "POST", "/api/items/{item_id}", 401, True, None, "bench/1.0", "", None)
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


class DiscardingSink:
    def send(self, topic: str, key: bytes, value: bytes) -> None:
        return None


def _scrub(event: dict[str, Any]) -> dict[str, Any]:
    event["user_agent"] = ""
    return event


def _variants(settings: Settings) -> dict[str, Callable[[], None]]:
    plain = FailureRecorder(settings, DiscardingSink())  # type: ignore[arg-type]
    variants: dict[str, Callable[[], None]] = {"plain (nothing configured)": lambda: plain.record(*FACTS)}
    try:
        scrubbing = FailureRecorder(settings, DiscardingSink(), before_send=_scrub)  # type: ignore[arg-type, call-arg]
    except TypeError:
        return variants  # a tree before before_send
    sampled = FailureRecorder(
        settings.model_copy(update={"capture_sample_rates": ("auth=0",)}),
        DiscardingSink(),  # type: ignore[arg-type]
    )
    variants["with a traceparent"] = lambda: plain.record(*FACTS, None, TRACEPARENT)  # type: ignore[call-arg]
    variants["with before_send"] = lambda: scrubbing.record(*FACTS)
    variants["sampled out (auth=0)"] = lambda: sampled.record(*FACTS)
    return variants


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--blocks", type=int, default=30)
    args = parser.parse_args()
    settings = Settings(_env_file=None, producer_spool_dir=Path(tempfile.mkdtemp()))  # type: ignore[call-arg]
    variants = _variants(settings)
    best = dict.fromkeys(variants, float("inf"))
    for _ in range(args.blocks):
        for name, call in variants.items():  # interleaved, so a disturbance hits every variant alike
            started = time.perf_counter_ns()
            for _ in range(CALLS):
                call()
            best[name] = min(best[name], (time.perf_counter_ns() - started) / CALLS)
    for name, ns in best.items():
        print(f"{name:28s} {ns / 1000:.2f} us per failure (minimum block mean)")


if __name__ == "__main__":
    main()

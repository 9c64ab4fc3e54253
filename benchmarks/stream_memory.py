"""Memory per tracked subject: detection state for 100 000 distinct IPs (or prefixes) in the window.

    .venv/bin/python -m benchmarks.stream_memory [--ips 100000] [--per-ip 4]
    .venv/bin/python -m benchmarks.stream_memory --prefixes 100000 [--per-prefix 9]

Runs the worker's own batch code (decode -> detection -> state bytes) into a
dict, which is what Faust's memory store holds per key (key bytes -> value
bytes), and measures the heap growth with tracemalloc. With ``--prefixes``,
each IPv6 /64 gets ``--per-prefix`` failures, each from a new address of it
(an attacker rotating addresses), forwarded as the worker forwards them and
counted by the ``prefix-failures`` code into its table; it also reports the
bytes forwarded to the repartition topic per failure.
"""

from __future__ import annotations

import argparse
import random
import time
import tracemalloc

from benchmarks.stream_common import failure
from failstream.events import now_ms
from failstream.settings import Settings
from failstream.stream_app.detection.prefix_batches import PrefixBatches
from failstream.stream_app.detection.prefix_forward import forwarded_records
from failstream.stream_app.detection.prefixes import AddressPrefixes
from failstream.stream_app.live_counts import LiveCountsAccumulator
from failstream.stream_app.processing import FailureBatches, Record
from failstream.stream_app.table_writes import changelog_partition

PARTITIONS = Settings().kafka_partitions


def partition_of(key: bytes) -> int:
    """The prefix table's partition, as the worker computes it."""
    return changelog_partition(key, PARTITIONS)


def per_ip(ips: int, failures_per_ip: int) -> None:
    rng = random.Random(3)
    t = now_ms()
    records: list[Record] = []
    for round_ in range(failures_per_ip):
        for k in range(ips):
            ip = f"10.{k // 65536 % 256}.{k // 256 % 256}.{k % 256}"
            value = failure(ip, t + round_ * 1000 + k % 1000, rng)
            records.append(Record("bench", 0, len(records), ip.encode(), value))
    table: dict[bytes, bytes] = {}
    batches = FailureBatches(Settings(), table, None, LiveCountsAccumulator())
    aggregate, forwarding_s = AddressPrefixes.from_settings(Settings()), 0.0
    for i in range(0, len(records), 1000):  # what every IPv4 failure pays when IPv4 is not aggregated
        reads = batches.decode(records[i : i + 1000], count_live=False).reads
        start = time.process_time()
        forwarded_records(reads, aggregate, batches.rules.allowlist, partition_of)
        forwarding_s += time.process_time() - start
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(0, len(records), 1000):
        batches.detect(batches.decode(records[i : i + 1000]))
        batches.states.flush()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    per_key = (after - before) / len(table)
    sample = next(iter(table.values()))
    print(f"ips={len(table)} failures/ip={failures_per_ip} state bytes/ip (value)={len(sample)}")
    print(f"heap growth {(after - before) / 2**20:.1f} MiB = {per_key:.0f} bytes per tracked IP")
    print(f"prefix check, IPv4 not aggregated: {forwarding_s / len(records) * 1e6:.2f} us/failure (CPU)")


def per_prefix(prefixes: int, failures_per_prefix: int) -> None:
    rng = random.Random(3)
    settings = Settings()
    t = now_ms()
    messages: list[Record] = []
    for round_ in range(failures_per_prefix):
        for k in range(prefixes):
            ip = f"2001:db8:{k // 65536:x}:{k % 65536:x}:{rng.getrandbits(16):x}::{round_ + 1:x}"
            value = bytes(memoryview(failure(ip, t + round_ * 1000 + k % 1000, rng)))  # orjson's 4 KiB, cut
            messages.append(Record("bench", k % 4, len(messages), ip.encode(), value))
    decoder = FailureBatches(settings, {}, None, LiveCountsAccumulator())
    aggregate = AddressPrefixes.from_settings(settings)
    forwarded: list[Record] = []
    forwarding_s = 0.0
    for i in range(0, len(messages), 1000):
        decoded = decoder.decode(messages[i : i + 1000], count_live=False)
        start = time.process_time()
        rounds = forwarded_records(decoded.reads, aggregate, decoder.rules.allowlist, partition_of)
        forwarding_s += time.process_time() - start
        for records in rounds:
            for partition, value in records:
                forwarded.append(Record("repartition", partition, len(forwarded), None, value))
    sent = sum(len(r.value or b"") for r in forwarded)
    del messages, decoder
    table: dict[bytes, bytes] = {}
    batches = PrefixBatches(settings, table)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    fired = 0
    for i in range(0, len(forwarded), 1000):
        alerts, changes = batches.detect(forwarded[i : i + 1000])
        batches.apply(changes)
        fired += len(alerts)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    per_key = (after - before) / len(table)
    sample = next(iter(table.values()))
    total = prefixes * failures_per_prefix
    print(
        f"prefixes={len(table)} failures/prefix={failures_per_prefix} (each from a new address) "
        f"alerts={fired} state bytes/prefix (value)={len(sample)}"
    )
    print(f"heap growth {(after - before) / 2**20:.1f} MiB = {per_key:.0f} bytes per tracked prefix")
    print(f"forwarded {len(forwarded)} records, {sent / total:.0f} bytes per failure")
    print(f"forwarding (prefix, grouping, record bytes): {forwarding_s / total * 1e6:.2f} us/failure (CPU)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ips", type=int, default=100_000)
    ap.add_argument("--per-ip", type=int, default=4, help="failures per IP (below the threshold of 5)")
    ap.add_argument("--prefixes", type=int, default=0, help="measure this many IPv6 /64s instead of IPs")
    ap.add_argument(
        "--per-prefix", type=int, default=9, help="failures per prefix (below the prefix threshold of 10)"
    )
    args = ap.parse_args()
    if args.prefixes:
        per_prefix(args.prefixes, args.per_prefix)
    else:
        per_ip(args.ips, args.per_ip)


if __name__ == "__main__":
    main()

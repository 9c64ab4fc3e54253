"""The local store at a million failures: FerretDB on SQLite against FerretDB on PostgreSQL (issue 22).

    .venv/bin/python -m benchmarks.local_store [--failures 1000000] [--ips 100000]
        [--backends sqlite,postgresql] [--clients 20] [--rate 5] [--seconds 20]
        [--persist-events 20000] [--persist-ips 100] [--persist-rounds 2] [--before REV]
        [--api-before REV] [--endpoints LIST] [--profile] [--cpu] [--explain]

For each backend, in one run: a FerretDB of its own (free port; data in
``.infra/bench/<backend>``, kept and reused while its seed is under 20 h old
and the rounds of earlier runs have not grown it past ``GROWN`` times ``--failures``)
is seeded with ``--failures`` failures over ``--ips`` IPs spread over the last
six hours, with the ``ip_stats`` and ``minute_counts`` documents the stream
worker keeps for them, in ``insert_many`` batches of the persister's size
(16,000).

Then, alternately for ``--persist-rounds`` rounds (2): ``insert_many`` of ``--persist-events``
fresh failures (the store's own rate; on IPs of their own, which the API is never asked
for), and the persister's write path
(the raw insert, the replay-guarded per-IP and per-minute counters and top
IPs; the next batch's raw insert beside this one's counters where the
revision has ``failures.stage``, as the persister runs them) on as many
fresh failures over ``--persist-ips`` of the stored IPs (a wave of
attackers), in batches of 16,000; their ratio is the persister's share of
the store's insert rate. ``insert_many`` is measured twice a round: one
command at a time, and each batch as ``failures.INSERTS_AT_ONCE`` commands
at once, as the persister inserts it (the store's own rate when both cores
insert), with a share against each. ``--before REV`` runs, in each round, the
persister's write path as it was at git revision ``REV`` too (its
``mongo`` modules loaded from git beside today's), on its own fresh failures
over the same IPs: before and after side by side in one run. ``--profile``
prints, after each persister round, every command it sent with the sum of
the server's durations (pymongo's command monitoring); ``--cpu`` the CPU
time FerretDB, PostgreSQL and this client took in each timed phase.

Then the API (uvicorn in its own process, one worker, access log off) is
started on the store and ``--clients`` clients, each on its own keep-alive
connection, send ``--rate`` requests a second (dashboards, not a flood), the
endpoints alternated in rounds: ``/api/v1/ips/{ip}`` and
``/api/v1/failures?ip=`` (first page) for a random stored IP each time,
``/api/v1/stats/summary?window=1h``, ``/api/v1/ips/{ip}`` for one of
five attackers, each with 20,000 failures stored through the persister's
path once per seed (the IPs alert emails name), and ``/api/v1/failures``:
page one, page one of a reason, a page from a random time of the seed, and
a page from a random time of an attacker's history (``ENDPOINTS``). Latency is measured in the
client from writing the request to reading the last body byte; each phase
begins with one unmeasured request (the summary's cache goes cold while the
other endpoints run, which a polled dashboard's never does).

``--explain`` prints FerretDB's pushdown verdict and the backend's plan for
every query the API issues and the filter of every statement the persister
issues (the tables of docs/mongodb.md) and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import os
import random
import statistics
import subprocess
import sys
import time
import types
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr
from pymongo import AsyncMongoClient, MongoClient, monitoring
from pymongo.errors import OperationFailure

from benchmarks import process_cpu
from benchmarks.api_summary import Conn, pct
from benchmarks.trees import base_worktree
from failstream.alerting.store import ensure_indexes as alerting_indexes
from failstream.api.indexes import ensure_api_indexes
from failstream.api.pagination import Position, encode, with_position
from failstream.events import FailedRequest, new_event_id, now_ms
from failstream.infra import ferretdb
from failstream.infra.process import INFRA_DIR, ManagedProcess
from failstream.settings import Settings
from failstream.stream_app.mongo import failures as failures_module
from failstream.stream_app.mongo import seconds, top_ips
from failstream.stream_app.mongo.client import ensure_indexes
from failstream.stream_app.mongo.failures import Read, minute_doc_id, minute_of
from failstream.stream_app.mongo.in_turn import in_turn
from tests.integration.services import free_port, wait_until

DB = "failstream_bench_store"
BATCH = 16_000  # the persister's default batch (FAILSTREAM_STREAM_PERSIST_BATCH_MAX)
SPAN_MS = 6 * 3600_000
REASONS = ("invalid_token", "missing_token", "expired_token", "rate_limited", "forbidden")
STATUS = {
    "invalid_token": 401,
    "missing_token": 401,
    "expired_token": 401,
    "rate_limited": 429,
    "forbidden": 403,
}
SERVICES = ("demo", "billing", "auth")


def ip_of(k: int) -> str:
    return f"10.{k // 65536 % 256}.{k // 256 % 256}.{k % 256}"


@dataclass
class Store:
    """One backend's FerretDB, started for the run."""

    backend: str
    settings: Settings
    process: ManagedProcess

    @classmethod
    def start(cls, backend: str) -> Store:
        port = free_port()
        settings = Settings().model_copy(
            update={
                "mongo_uri": SecretStr(f"mongodb://127.0.0.1:{port}/"),
                "mongo_db": DB,
                "infra_ferretdb_backend": backend,
                "api_port": free_port(),
            }
        )
        process = ManagedProcess(f"ferretdb-bench-{backend}")
        process.stop()
        print(ferretdb.up(settings, process=process, data_dir=INFRA_DIR / "bench" / backend))
        return cls(backend, settings, process)

    @property
    def uri(self) -> str:
        return self.settings.mongo_uri.get_secret_value()


def failure_doc(i: int, ts: int, ip: str, offset: int) -> dict[str, Any]:
    reason = REASONS[i % len(REASONS)]
    return {
        "_id": new_event_id(),
        "ts": ts,
        "service": SERVICES[i % 3],
        "ip": ip,
        "method": "POST",
        "route": "/api/submit",
        "status": STATUS[reason],
        "reason": reason,
        "user_agent": "bench",
        "request_id": "",
        seconds.SECOND: seconds.second_of(ts),
        seconds.TENTH: seconds.tenth_of(ts),
        "partition": 0,
        "offset": offset,
    }


def bench_failure(i: int, ts: int, ip: str) -> FailedRequest:
    """The ``i``-th failure of a wave, as the producer would send it (reasons in turn)."""
    reason = REASONS[i % len(REASONS)]
    return FailedRequest(
        event_id=new_event_id(),
        ts=ts,
        service=SERVICES[i % 3],
        ip=ip,
        method="POST",
        route="/api/submit",
        status=STATUS[reason],
        reason=reason,  # type: ignore[arg-type]
        user_agent="bench",
    )


async def _seed(store: Store, n: int, ips: int) -> float:
    """The documents the worker writes for ``n`` failures, in bulk; returns the docs/s of ``failures``."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(store.uri)
    db = client[DB]
    await ensure_indexes(db)
    now = now_ms()
    rng = random.Random(22)
    ip_stats: dict[str, dict[str, Any]] = {}
    minutes: dict[int, dict[str, Any]] = {}
    inserting = 0.0
    batch: list[dict[str, Any]] = []
    for i in range(n):
        ts = now - SPAN_MS + (i * SPAN_MS) // n
        ip = ip_of(rng.randrange(ips))
        doc = failure_doc(i, ts, ip, i)
        batch.append(doc)
        stats = ip_stats.setdefault(
            ip,
            {
                "_id": ip,
                "total": 0,
                "reasons": {},
                "statuses": {},
                "services": {},
                "routes": {},
                "first_seen": ts,
                "last_seen": ts,
                "applied": {"p0": i},
            },
        )
        minute = minute_of(ts)
        bucket = minutes.setdefault(
            minute,
            {
                "_id": minute_doc_id(minute, "failures", 0),
                "source": "failures",
                "minute": minute,
                "partition": 0,
                "total": 0,
                "reasons": {},
                "statuses": {},
                "services": {},
                "applied": {"p0": i},
                seconds.FIELD: {},
                top_ips.KEPT: True,
            },
        )
        second = seconds.counter_name(ts).partition(".")[2]
        bucket[seconds.FIELD][second] = bucket[seconds.FIELD].get(second, 0) + 1
        for counted in (stats, bucket):
            counted["total"] += 1
            for field, label in (
                ("reasons", doc["reason"]),
                ("statuses", str(doc["status"])),
                ("services", doc["service"]),
            ):
                counted[field][label] = counted[field].get(label, 0) + 1
            counted["applied"]["p0"] = i
        stats["routes"]["POST /api/submit"] = stats["total"]
        stats["last_seen"] = ts
        if len(batch) == BATCH:
            began = time.perf_counter()
            await db.failures.insert_many(batch, ordered=False)
            inserting += time.perf_counter() - began
            batch = []
            if (i + 1) % (BATCH * 10) == 0:
                print(f"  {store.backend}: {i + 1:,} failures stored, {(i + 1) / inserting:,.0f} docs/s")
    if batch:
        began = time.perf_counter()
        await db.failures.insert_many(batch, ordered=False)
        inserting += time.perf_counter() - began
    docs = list(ip_stats.values())
    for start in range(0, len(docs), BATCH):
        await db.ip_stats.insert_many(docs[start : start + BATCH], ordered=False)
    for doc_id, entries in seeded_top_ips(docs).items():
        minutes[int(doc_id.split(":")[0])][top_ips.FIELD] = entries
    await db.minute_counts.insert_many(list(minutes.values()), ordered=False)
    await db.bench_meta.replace_one(
        {"_id": "seed"},
        {"n": n, "ips": ips, "seeded_at": now, "insert_rate": n / inserting, "top_ips": 2, "seconds": 2},
        upsert=True,
    )
    await client.close()
    return n / inserting


def seeded_top_ips(ip_docs: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Each minute document's ``top_ips`` as the persister leaves them: an IP in its ``last_seen`` minute."""
    candidates: dict[str, list[top_ips.Entry]] = {}
    for doc in ip_docs:
        doc_id = minute_doc_id(minute_of(int(doc["last_seen"])), "failures", 0)
        candidates.setdefault(doc_id, []).append((str(doc["_id"]), int(doc["total"])))
    return {
        doc_id: [{"ip": ip, "total": total} for ip, total in top_ips.ranked(entries)]
        for doc_id, entries in candidates.items()
    }


#: Attackers: a few IPs with many stored failures each (the IPs alert emails name), beside the seed.
ATTACKERS = [f"10.250.1.{k}" for k in range(5)]
ATTACKER_FAILURES = 20_000
#: Where ``insert_many``'s own rounds put their failures: raw documents without counters, which
#: the API reads by ``ip`` (their ``ip_stats`` says few), so never one of the IPs it is asked for.
BASELINE_IPS = [f"10.251.0.{k}" for k in range(100)]


async def _add_attackers(store: Store) -> None:
    """Store ``ATTACKER_FAILURES`` for each attacker through the persister's own path, once per seed."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(store.uri)
    db = client[DB]
    now = now_ms()
    for k, ip in enumerate(ATTACKERS):
        reads = [
            Read(bench_failure(i, now - 1_800_000 + i * 50, ip), partition=50 + k, offset=i)
            for i in range(ATTACKER_FAILURES)
        ]
        for start in range(0, len(reads), BATCH):
            await failures_module.persist_failures(db, reads[start : start + BATCH])
    await db.bench_meta.update_one({"_id": "seed"}, {"$set": {"attackers": len(ATTACKERS)}})
    await client.close()


#: The API's endpoints the benchmark measures, in the table's order.
ENDPOINTS = (
    "ips/{ip}",
    "failures?ip=",
    "stats/summary",
    "ips/{attacker}",
    "failures",
    "failures?reason=",
    "failures?cursor=",
    "failures?ip={attacker}&cursor=",
)
#: A kept seed is dropped once its store holds this many times the failures asked for: every
#: round adds its own, and a store grown past the page cache reads from disk.
GROWN = 1.5


def ensure_seeded(store: Store, n: int, ips: int) -> float:
    client: MongoClient[dict[str, Any]] = MongoClient(store.uri)
    meta = client[DB].bench_meta.find_one({"_id": "seed"})
    young = meta is not None and now_ms() - meta["seeded_at"] < 20 * 3600_000
    # a seed made before failures carried their second and tenth: the walk would list none of it
    current = meta is not None and meta.get("seconds") == 2
    reusable = meta is not None and young and current and (meta["n"], meta["ips"]) == (n, ips)
    if reusable:
        # collStats' count: the store's statistics (estimated_document_count counts them all)
        stored = int(client[DB].command("collStats", "failures").get("count", 0))
        if stored > GROWN * n:
            print(f"{store.backend}: the store has grown to {stored:,} failures; seeding afresh")
            reusable = False
    if meta is not None and reusable:
        age_min = (now_ms() - meta["seeded_at"]) // 60_000
        print(f"{store.backend}: reusing {n:,} failures seeded {age_min} min ago")
        client.close()
        if meta.get("attackers") != len(ATTACKERS):
            asyncio.run(_add_attackers(store))
        return float(meta["insert_rate"])
    client.drop_database(DB)
    client.close()
    began = time.perf_counter()
    rate = asyncio.run(_seed(store, n, ips))
    asyncio.run(_add_attackers(store))
    print(
        f"{store.backend}: seeded {n:,} failures in {time.perf_counter() - began:.0f} s ({rate:,.0f} docs/s)"
    )
    return rate


async def _writable(store: Store, timeout_s: float = 600.0) -> None:
    """Wait until the store takes a write (a cut-off round's statements may still hold it)."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(store.uri)
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            try:
                await client[DB].bench_meta.replace_one({"_id": "probe"}, {"at": now_ms()}, upsert=True)
                return
            except OperationFailure:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)
    finally:
        await client.close()


async def _forget_old_minutes(store: Store) -> None:
    """Delete the minutes an older revision's persister wrote in an earlier run (no top IPs kept):
    within the hour they would make the summary rank top IPs by the scan the lists replace."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(store.uri)
    await client[DB].minute_counts.delete_many(
        {"source": "failures", "partition": {"$gte": 1}, top_ips.KEPT: {"$exists": False}}
    )
    await client.close()


#: Set by ``--cpu``: each timed phase prints the CPU time its processes took.
CPU = False


def _cpu_seconds(pid: int) -> float:
    """A process's CPU time so far; 0 for one that ended meanwhile."""
    try:
        return process_cpu.cpu_s(pid)
    except OSError:
        return 0.0


def _cpu_sample(store: Store) -> dict[str, float]:
    """CPU seconds so far of the store's FerretDB, every PostgreSQL process and this client."""
    postgres = 0.0
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                if (proc / "comm").read_text().strip() == "postgres":
                    postgres += _cpu_seconds(int(proc.name))
    ferret = store.process.pid()
    return {
        "FerretDB": _cpu_seconds(ferret) if ferret else 0.0,
        "PostgreSQL": postgres,
        "client": _cpu_seconds(os.getpid()),
    }


def _cpu_line(store: Store, before: dict[str, float], wall_s: float) -> str:
    """What each process took since ``before`` (a postgres backend that ended is not counted)."""
    spent = {name: max(0.0, value - before[name]) for name, value in _cpu_sample(store).items()}
    parts = ", ".join(f"{name} {seconds:.2f}" for name, seconds in spent.items())
    return f"CPU {sum(spent.values()):.2f} s in {wall_s:.2f} s ({parts})"


async def _insert_rate(store: Store, n: int, round_: int, at_once: int = 1) -> float:
    """``insert_many`` of ``n`` failures, each batch of ``BATCH`` as ``at_once`` commands at once."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(store.uri)
    now = now_ms()
    first = 10_000_000 * (round_ + 1) + (n if at_once > 1 else 0)  # the two variants' offsets apart
    docs = [failure_doc(i, now - i, BASELINE_IPS[i % 100], first + i) for i in range(n)]
    cpu = _cpu_sample(store) if CPU else {}
    began = time.perf_counter()
    for start in range(0, n, BATCH):
        batch = docs[start : start + BATCH]
        size = -(-len(batch) // at_once)
        await asyncio.gather(
            *(
                client[DB].failures.insert_many(batch[k : k + size], ordered=False)
                for k in range(0, len(batch), size)
            )
        )
    elapsed = time.perf_counter() - began
    if CPU:
        print(f"    insert_many, {at_once} at once: {_cpu_line(store, cpu, elapsed)}")
    await client.close()
    return n / elapsed


Persist = Callable[[Any, list[list[Read]]], Awaitable[None]]
#: failstream/stream_app/mongo/, in import order; a module a revision does not have is skipped
PERSISTER_MODULES = ("guarded_counts", "top_ips", "failures")


def batch_writer(failures: types.ModuleType) -> Persist:
    """The batches written as the persister writes them with this ``failures`` module: the next
    batch's raw insert beside this one's counters where it has ``stage`` and ``count``, else one
    ``persist_failures`` after the other."""

    async def one_by_one(db: Any, batches: list[list[Read]]) -> None:
        for batch in batches:
            await failures.persist_failures(db, batch)

    # a persister's memory of the recent lists it left too long, kept across its batches
    recent = failures.RecentLists() if hasattr(failures, "RecentLists") else None

    async def in_turns(db: Any, batches: list[list[Read]]) -> None:
        slots = failures.statement_slots()

        async def each() -> AsyncIterator[list[Read]]:
            for batch in batches:
                yield batch

        async def first(batch: list[Read]) -> Any:
            return await failures.stage(db, batch, slots)

        async def second(staged: Any) -> None:
            await (failures.count(db, staged, slots, recent) if recent else failures.count(db, staged, slots))

        await in_turn(each(), first, second)

    return in_turns if hasattr(failures, "stage") else one_by_one


def persist_at(rev: str) -> Persist:
    """``persist_failures`` as it was at git revision ``rev``, loaded beside today's.

    Its modules are executed from ``git show`` under their own names while
    they are imported, so the old ``failures`` binds the old
    ``guarded_counts``; today's modules are put back afterwards.
    """
    package = importlib.import_module("failstream.stream_app.mongo")
    root = Path(__file__).resolve().parent.parent
    saved = {name: sys.modules[f"{package.__name__}.{name}"] for name in PERSISTER_MODULES}
    try:
        for name in PERSISTER_MODULES:
            path = f"failstream/stream_app/mongo/{name}.py"
            shown = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=root, capture_output=True, text=True)
            if shown.returncode != 0:
                continue
            source = shown.stdout
            module = types.ModuleType(f"{package.__name__}.{name}")
            module.__file__ = f"{rev}:{path}"
            sys.modules[module.__name__] = module
            setattr(package, name, module)
            exec(compile(source, module.__file__, "exec"), module.__dict__)
        return batch_writer(module)
    finally:
        for name, current in saved.items():
            sys.modules[current.__name__] = current
            setattr(package, name, current)


class CommandTimes(monitoring.CommandListener):  # type: ignore[misc]
    """Commands a client sent and the time the server took for them, per command and collection."""

    def __init__(self) -> None:
        self.names: dict[int, str] = {}
        self.totals: dict[str, list[float]] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        target = event.command.get(event.command_name)
        self.names[event.request_id] = f"{event.command_name} {target if isinstance(target, str) else ''}"

    def _ended(self, event: monitoring.CommandSucceededEvent | monitoring.CommandFailedEvent) -> None:
        total = self.totals.setdefault(self.names.pop(event.request_id, event.command_name), [0, 0.0])
        total[0] += 1
        total[1] += event.duration_micros / 1000

    succeeded = _ended
    failed = _ended

    def lines(self) -> str:
        ranked = sorted(self.totals.items(), key=lambda kv: -kv[1][1])
        return "; ".join(f"{name.strip()} x{n:.0f} {ms:,.0f} ms" for name, (n, ms) in ranked)


#: Set by ``--profile``: the persister's commands are timed and printed after each of its rounds.
PROFILE = False


async def _persist_rate(
    store: Store, n: int, ips: int, stored_ips: int, round_: int, persist: Persist, earlier_ms: int = 0
) -> float:
    times = CommandTimes()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        store.uri, event_listeners=[times] if PROFILE else []
    )
    db = client[DB]
    rng = random.Random(round_)
    attackers = [ip_of(rng.randrange(stored_ips)) for _ in range(ips)]
    now = now_ms()
    reads = []
    for i in range(n):
        event = bench_failure(i, now - earlier_ms - i, attackers[i % ips])
        # a partition of its own per round, offsets past every mark an earlier run wrote
        reads.append(Read(event, partition=1 + round_, offset=now * 1000 + i))
    cpu = _cpu_sample(store) if CPU else {}
    began = time.perf_counter()
    try:
        await persist(db, [reads[start : start + BATCH] for start in range(0, n, BATCH)])
    finally:  # also when cut off: FerretDB cancels a closed connection's statements
        await client.close()
        if PROFILE:
            print(f"    commands (sum of their durations, concurrent ones overlap): {times.lines()}")
    elapsed = time.perf_counter() - began
    if CPU:
        print(f"    persister: {_cpu_line(store, cpu, elapsed)}")
    return n / elapsed


@dataclass
class Share:
    """Median rates of one backend's rounds: ``insert_many`` (one command at a time, and
    ``INSERTS_AT_ONCE`` at once), and the persister per variant."""

    inserted: float
    inserted_at_once: float
    persisted: dict[str, float]
    capped: set[str]

    def cell(self, variant: str) -> str:
        below = "< " if variant in self.capped else ""
        rate = self.persisted[variant]
        shares = (f"{below}{rate / of:.2f}" for of in (self.inserted, self.inserted_at_once))
        return f"{below}{rate:,.0f} | " + " | ".join(shares)


def persister_share(
    store: Store,
    n: int,
    ips: int,
    stored_ips: int,
    timeout_s: float,
    variants: dict[str, Persist],
    rounds: int = 2,
) -> Share:
    """Medians of insert_many's and each persister variant's rates, alternated in every round.

    A round past ``timeout_s`` counts as ``n / timeout_s``, an upper bound of
    its rate, and that variant runs no further round; when every variant is
    cut off, the rounds end. A cut-off round closes its connections, which
    makes FerretDB cancel what it still runs of them (on PostgreSQL; SQLite
    went on for minutes, its next ``insert_many`` at a tenth of its rate),
    and ``insert_many`` waits until the store takes a write.
    """
    inserted: list[float] = []
    at_once: list[float] = []
    persisted: dict[str, list[float]] = {name: [] for name in variants}
    capped: set[str] = set()
    asyncio.run(_forget_old_minutes(store))
    for r in range(rounds):
        asyncio.run(_writable(store))
        inserted.append(asyncio.run(_insert_rate(store, n, r)))
        at_once.append(asyncio.run(_insert_rate(store, n, r, failures_module.INSERTS_AT_ONCE)))
        line = (
            f"  {store.backend} round {r + 1}: insert_many {inserted[-1]:,.0f}/s, "
            f"{failures_module.INSERTS_AT_ONCE} at once {at_once[-1]:,.0f}/s"
        )
        for k, (name, persist) in enumerate(variants.items()):
            # an older revision's minutes (no top IPs kept) go two hours back, out of the API's
            # 1h summary, which would otherwise rank top IPs by the scan they replace
            earlier_ms = 0 if k == len(variants) - 1 else 2 * 3600_000
            if name in capped:
                continue
            try:
                rate = asyncio.run(
                    asyncio.wait_for(
                        _persist_rate(store, n, ips, stored_ips, r, persist, earlier_ms), timeout_s
                    )
                )
            except TimeoutError:
                rate = n / timeout_s
                capped.add(name)
            except OperationFailure as exc:
                # FerretDB on SQLite refuses a statement it cannot take the lock for in time
                # (SQLITE_BUSY); the persister waits that out as an outage and writes again
                print(f"  {store.backend} round {r + 1}, persister ({name}) refused: {str(exc)[-60:]}")
                rate = n / timeout_s
                capped.add(name)
            persisted[name].append(rate)
            line += f", persister ({name}) {'< ' if name in capped else ''}{rate:,.0f}/s"
        print(line, flush=True)
        if len(capped) == len(variants):
            break
    return Share(
        statistics.median(inserted),
        statistics.median(at_once),
        {name: statistics.median(rates) for name, rates in persisted.items()},
        capped,
    )


@dataclass
class Sample:
    """One endpoint's latencies; ``unfinished`` requests were still running at the phase's end."""

    latencies: list[float]
    errors: int = 0
    unfinished: int = 0

    def add(self, other: Sample) -> None:
        self.latencies += other.latencies
        self.errors += other.errors
        self.unfinished += other.unfinished

    def cell(self) -> str:
        if not self.latencies:
            return f"none finished ({self.unfinished} still running after {GRACE_S:.0f} s)"
        text = f"{pct(self.latencies, 0.5):,.1f} / {pct(self.latencies, 0.99):,.1f} ({len(self.latencies)})"
        if self.unfinished or self.errors:
            text += f", {self.unfinished} unfinished, {self.errors} not 200"
        return text


#: How long requests sent before a phase's end may take to finish; the rest count as unfinished.
GRACE_S = 30.0


async def _clients(port: int, key: str, path: Any, clients: int, seconds: float, rate: float) -> Sample:
    conns = [Conn("127.0.0.1", port, key) for _ in range(clients)]
    await asyncio.gather(*(c.open() for c in conns))
    sample = Sample([])
    deadline = time.perf_counter() + seconds

    async def client(conn: Conn, offset: float) -> None:
        await asyncio.sleep(offset)
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            status = await conn.get(path() if callable(path) else path)
            sample.latencies.append(time.perf_counter() - began)
            sample.errors += status != 200
            await asyncio.sleep(max(0.0, 1 / rate - (time.perf_counter() - began)))

    tasks = [asyncio.create_task(client(c, i / clients / rate)) for i, c in enumerate(conns)]
    _, running = await asyncio.wait(tasks, timeout=seconds + GRACE_S)
    sample.unfinished = len(running)  # a slow store: these requests are still waiting
    for task in running:
        task.cancel()
    for c in conns:
        c.writer.close()
    return sample


def _api_server(store: Store, port: int, tree: Path | None) -> subprocess.Popen[bytes]:
    """uvicorn with the API of this checkout, or of ``tree`` (another revision's worktree)."""
    env = {**os.environ, **store.settings.as_env(), "FAILSTREAM_API_PORT": str(port)}
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    code = (
        "import uvicorn; from failstream.api.app import create_app; "
        "from failstream.settings import Settings; s = Settings(); "
        "uvicorn.run(create_app(s), host='127.0.0.1', port=s.api_port, log_level='warning', access_log=False)"
    )
    return subprocess.Popen([sys.executable, "-c", code], env=env, cwd=tree)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(30)
    except subprocess.TimeoutExpired:  # requests still waiting on a slow store hold uvicorn's shutdown
        server.kill()
        server.wait(30)


def api_latencies(
    store: Store,
    ips: int,
    clients: int,
    seconds: float,
    rate: float,
    only: set[str] | None = None,
    before: Path | None = None,
) -> dict[str, Sample]:
    """Each endpoint's latencies; with ``before`` (a worktree), also ``<endpoint> before`` from its API."""
    servers = {"": (store.settings.api_port, None)}
    if before is not None:
        servers[" before"] = (free_port(), before)
    running = {label: _api_server(store, port, tree) for label, (port, tree) in servers.items()}
    key = store.settings.api_read_keys[0].get_secret_value()
    rng = random.Random(7)

    def ip_path() -> str:
        return f"/api/v1/ips/{ip_of(rng.randrange(ips))}"

    def failures_path() -> str:
        return f"/api/v1/failures?ip={ip_of(rng.randrange(ips))}"

    def attacker_path() -> str:
        return f"/api/v1/ips/{rng.choice(ATTACKERS)}"

    spans = _spans(store)

    def deep_path() -> str:
        """A page of all failures from a random time of the seed's six hours."""
        first, last = spans["seed"]
        return f"/api/v1/failures?cursor={encode('failures', Position(rng.randrange(first, last), ''))}"

    def attacker_deep_path() -> str:
        """A page of an attacker's failures from a random time of its history."""
        ip = rng.choice(ATTACKERS)
        first, last = spans[ip]
        cursor = encode("failures", Position(rng.randrange(first, last), ""))
        return f"/api/v1/failures?ip={ip}&cursor={cursor}"

    endpoints: dict[str, Any] = {
        "ips/{ip}": ip_path,
        "failures?ip=": failures_path,
        "stats/summary": "/api/v1/stats/summary?window=1h",
        "ips/{attacker}": attacker_path,
        "failures": "/api/v1/failures",
        "failures?reason=": "/api/v1/failures?reason=forbidden",
        "failures?cursor=": deep_path,
        "failures?ip={attacker}&cursor=": attacker_deep_path,
    }
    endpoints = {name: path for name, path in endpoints.items() if only is None or name in only}
    try:
        for label, (port, _) in servers.items():
            url = f"http://127.0.0.1:{port}"
            wait_until(lambda url=url: _ready(url), 60, f"the API{label} on port {port}", interval_s=0.1)
            warm = [endpoints["stats/summary"]] if "stats/summary" in endpoints else []
            for path in (*warm, ip_path(), failures_path()):  # warm-up
                began = time.perf_counter()
                httpx.get(f"{url}{path}", headers={"X-API-Key": key}, timeout=600).raise_for_status()
                took = time.perf_counter() - began
                print(f"  {store.backend}{label}: first {path.split('?')[0]} in {took:.2f} s")
        results = {name + label: Sample([]) for name in endpoints for label in servers}
        rounds = 2
        for _ in range(rounds):  # alternated, so a change of load on the shared machine hits each
            for name, path in endpoints.items():
                for label, (port, _) in servers.items():
                    # unmeasured: the summary's cache went cold while the other endpoints ran, which
                    # dashboards polling it never see (its first computation is printed above); a
                    # store still busy with the last phase's requests (SQLite) fails the phase, not this
                    url = f"http://127.0.0.1:{port}{path() if callable(path) else path}"
                    with contextlib.suppress(httpx.HTTPError):
                        httpx.get(url, headers={"X-API-Key": key}, timeout=GRACE_S)
                    sample = asyncio.run(_clients(port, key, path, clients, seconds / rounds, rate))
                    results[name + label].add(sample)
        return results
    finally:
        for server in running.values():
            _stop(server)


def _spans(store: Store) -> dict[str, tuple[int, int]]:
    """The seed's time span, and each attacker's (``first_seen``, ``last_seen``)."""
    client: MongoClient[dict[str, Any]] = MongoClient(store.uri)
    db = client[DB]
    meta = db.bench_meta.find_one({"_id": "seed"}) or {}
    seeded_at = int(meta["seeded_at"])
    spans = {"seed": (seeded_at - SPAN_MS, seeded_at)}
    for ip in ATTACKERS:
        doc = db.ip_stats.find_one({"_id": ip}) or {}
        spans[ip] = (int(doc["first_seen"]), int(doc["last_seen"]))
    client.close()
    return spans


# --------------------------------------------------------------------------- explain


#: Every query the API issues (failstream/api), as find/count commands; values are samples.
def api_queries(ip: str) -> list[tuple[str, str, dict[str, Any]]]:
    now = now_ms()
    page = {"$or": [{"ts": {"$lt": now}}, {"ts": now, "_id": {"$lt": "x"}}]}
    return [
        ("GET /ips/{ip}: counters", "ip_stats", {"filter": {"_id": ip}, "limit": 1}),
        (
            "GET /ips/{ip}: recent failures (an IP with few)",
            "failures",
            {"filter": {"ip": ip}, "sort": {"ts": -1, "_id": -1}, "limit": 20},
        ),
        (
            "GET /ips/{ip}, /failures?ip= first page: one of an IP's listed recent failures",
            "failures",
            {"filter": {"_id": "x"}, "limit": 1},
        ),
        (
            "GET /ips/{ip}: alerts; summary: a top IP's latest alert",
            "alerts",
            {"filter": {"subject": ip}, "sort": {"created_at": -1, "_id": -1}, "limit": 20},
        ),
        (
            "GET /failures?ip= (first page)",
            "failures",
            {"filter": {"ip": ip}, "sort": {"ts": -1, "_id": -1}, "limit": 51},
        ),
        (
            "GET /failures?ip=&cursor= (next pages; an IP with at most 1,000 failures)",
            "failures",
            {"filter": with_position({"ip": ip}, page), "sort": {"ts": -1, "_id": -1}, "limit": 51},
        ),
        (
            "GET /failures (any filter, any page): a minute's documents",
            "minute_counts",
            {"filter": {"minute": minute_of(now), "source": "failures"}},
        ),
        (
            "GET /failures (any filter, any page): the minutes after 15 empty ones",
            "minute_counts",
            {"filter": {"source": "failures", "minute": {"$lt": now, "$gte": 0}}},
        ),
        (
            "GET /failures?reason=&service=: one second's failures",
            "failures",
            {
                "filter": {seconds.SECOND: now - now % 1000, "reason": "invalid_token", "service": "demo"},
                "sort": {"ts": -1, "_id": -1},
                "limit": 51,
            },
        ),
        (
            "GET /failures (any filter): a busy second's tenth",
            "failures",
            {"filter": {seconds.TENTH: now - now % 100}, "sort": {"ts": -1, "_id": -1}, "limit": 51},
        ),
        (
            "GET /failures?ip=&cursor= (an IP with more): one second's failures, at the position",
            "failures",
            {
                "filter": with_position({seconds.SECOND: now - now % 1000, "ip": ip}, page),
                "sort": {"ts": -1, "_id": -1},
                "limit": 51,
            },
        ),
        (
            "GET /stats/summary, /stats/timeseries: minutes",
            "minute_counts",
            {"filter": {"source": "failures", "minute": {"$gte": now - 3600_000, "$lt": now}}},
        ),
        (
            "GET /stats/summary: a top IP (one of ten winners)",
            "ip_stats",
            {"filter": {"_id": ip}, "limit": 1},
        ),
        (
            "GET /stats/summary: top IPs while a minute predates the lists",
            "ip_stats",
            {"filter": {"last_seen": {"$gte": now - 3600_000}}, "sort": {"total": -1, "_id": 1}, "limit": 10},
        ),
        (
            "GET /alerts?status=&rule=&subject=",
            "alerts",
            {"filter": {"status": "sent"}, "sort": {"created_at": -1, "_id": -1}, "limit": 51},
        ),
        (
            "GET /emails?status=",
            "emails",
            {"filter": {"status": "SENT"}, "sort": {"created_at": -1, "_id": -1}, "limit": 51},
        ),
        (
            "GET /emails: today's counts (x3)",
            "emails",
            {"filter": {"status": "SENT", "sent_at": {"$gte": now - 86_400_000, "$lt": now}}},
        ),
        (
            "GET /silences",
            "silences",
            {"filter": {"until": {"$gt": now}}, "sort": {"created_at": -1, "_id": -1}, "limit": 51},
        ),
        ("DELETE /silences/{id}", "silences", {"filter": {"_id": "s1"}, "limit": 1}),
        (
            "GET /reports/schedules: last report",
            "reports",
            {"filter": {"schedule": "daily", "manual": False}, "sort": {"start": -1}, "limit": 1},
        ),
    ]


def persister_queries(ip: str) -> list[tuple[str, str, dict[str, Any]]]:
    """The filters of every statement the persister issues per batch (explained as finds)."""
    now = now_ms()
    minute = minute_of(now)
    guard = {"$or": [{"applied.p1": {"$lt": now}}, {"applied.p1": {"$exists": False}}]}
    return [
        ("persister: a redelivered failure's stored place", "failures", {"filter": {"_id": "x"}, "limit": 1}),
        (
            "persister: an IP's counters, guarded upsert",
            "ip_stats",
            {"filter": {"_id": ip, **guard, "routes.POST /api/submit": {"$exists": True}}, "limit": 1},
        ),
        (
            "persister: a minute's counters, guarded upsert",
            "minute_counts",
            {"filter": {"_id": minute_doc_id(minute, "failures", 1), **guard}, "limit": 1},
        ),
        (
            "persister: a document's marks, when the guard failed",
            "ip_stats",
            {"filter": {"_id": ip}, "limit": 1},
        ),
        (
            "persister: a minute's total over partitions",
            "minute_counts",
            {"filter": {"minute": minute, "source": "failures"}},
        ),
        (
            "persister: a minute's top IPs (and its list, when not written by the batch)",
            "minute_counts",
            {"filter": {"_id": minute_doc_id(minute, "failures", 1)}, "limit": 1},
        ),
    ]


def _plan(explain: dict[str, Any]) -> str:
    """The scans of a plan: PostgreSQL's nodes (index name), SQLite's ``detail`` lines."""
    plan = explain.get("queryPlanner", {})
    node = plan.get("Plan") if isinstance(plan, dict) else None
    if isinstance(node, list):  # SQLite: EXPLAIN QUERY PLAN rows
        return "; ".join(str(row).split("detail=", 1)[-1] for row in node)
    if not isinstance(node, dict):
        return "-"
    found: list[str] = []

    def walk(n: dict[str, Any]) -> None:
        if n.get("Index Name"):
            found.append(f"{n['Node Type']} on {n['Index Name']}")
        elif "Scan" in str(n.get("Node Type")):
            found.append(str(n["Node Type"]))
        for child in n.get("Plans", []):
            walk(child)

    walk(node)
    return ", ".join(found) or str(node.get("Node Type"))


async def _every_collection(uri: str) -> None:
    """The indexes every process creates, and one document in each collection the API reads."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri)
    db = client[DB]
    await ensure_indexes(db)
    await alerting_indexes(db)
    await ensure_api_indexes(db)
    samples = {
        "alerts": {"_id": "k", "subject": "10.0.0.1", "status": "sent", "created_at": 1},
        "emails": {"_id": "m", "status": "SENT", "created_at": 1, "sent_at": 1},
        "silences": {"_id": "s", "until": 1, "created_at": 1},
        "reports": {"_id": "r", "schedule": "daily", "manual": False, "start": 1},
    }
    for name, doc in samples.items():
        await db[name].replace_one({"_id": doc["_id"]}, doc, upsert=True)
    await client.close()


def explain_all(store: Store) -> None:
    asyncio.run(_every_collection(store.uri))
    client: MongoClient[dict[str, Any]] = MongoClient(store.uri)
    db = client[DB]
    ip = ip_of(12_345)
    print(f"\n{store.backend}: query | collection | filter pushed | sort pushed | limit pushed | plan")
    for name, collection, spec in [*api_queries(ip), *persister_queries(ip)]:
        explain = db.command("explain", {"find": collection, **spec}, verbosity="queryPlanner")
        print(
            f"| {name} | {collection} | {explain.get('filterPushdown')} | {explain.get('sortPushdown')} | "
            f"{explain.get('limitPushdown')} | {_plan(explain)} |"
        )
    client.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--failures", type=int, default=1_000_000)
    parser.add_argument("--ips", type=int, default=100_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--rate", type=float, default=5.0, help="requests per second per client")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per endpoint")
    parser.add_argument("--persist-events", type=int, default=20_000)
    parser.add_argument("--persist-ips", type=int, default=100)
    parser.add_argument("--persist-rounds", type=int, default=2)
    parser.add_argument(
        "--persist-timeout", type=float, default=300.0, help="seconds for one persister round"
    )
    parser.add_argument(
        "--before", default="", help="git revision whose persister also runs in each round, for comparison"
    )
    parser.add_argument(
        "--profile", action="store_true", help="print the persister's commands and their durations per round"
    )
    parser.add_argument(
        "--cpu",
        action="store_true",
        help="print the CPU time of FerretDB, PostgreSQL and the client per phase",
    )
    parser.add_argument(
        "--api-before", default="", help="git revision whose API also answers, alternated with today's"
    )
    parser.add_argument("--explain", action="store_true")
    parser.add_argument(
        "--endpoints",
        default="",
        help=f"comma-separated subset of {','.join(ENDPOINTS)}; none: no API",
    )
    args = parser.parse_args()

    global PROFILE, CPU
    PROFILE, CPU = args.profile, args.cpu
    variants: dict[str, Persist] = {"now": batch_writer(failures_module)}
    if args.before:
        variants = {args.before: persist_at(args.before), **variants}
    rows: list[tuple[str, float, Share | None, dict[str, Sample]]] = []
    trees = contextlib.ExitStack()
    api_before = (
        trees.enter_context(base_worktree(args.api_before, "bench-api-")) if args.api_before else None
    )
    for backend in args.backends.split(","):
        store = Store.start(backend)
        try:
            seed_rate = ensure_seeded(store, args.failures, args.ips)
            if args.explain:
                explain_all(store)
                continue
            share = (
                persister_share(
                    store,
                    args.persist_events,
                    args.persist_ips,
                    args.ips,
                    args.persist_timeout,
                    variants,
                    args.persist_rounds,
                )
                if args.persist_events
                else None
            )
            only = set(args.endpoints.split(",")) if args.endpoints else None
            lat = (
                {}
                if args.endpoints == "none"
                else api_latencies(store, args.ips, args.clients, args.seconds, args.rate, only, api_before)
            )
            rows.append((backend, seed_rate, share, lat))
            print(f"  {backend}: " + "; ".join(f"{name} {sample.cell()}" for name, sample in lat.items()))
        finally:
            store.process.stop(timeout_s=60)
    trees.close()
    if not rows:
        return
    print(
        f"\n{args.failures:,} failures over {args.ips:,} IPs; {args.clients} clients at {args.rate}/s each; "
        f"persister on {args.persist_events:,} failures over {args.persist_ips} IPs"
    )
    two = failures_module.INSERTS_AT_ONCE
    persister_columns = "".join(
        f"persister ({name}) failures/s | share ({name}) | share of {two} at once ({name}) | "
        for name in variants
    )
    print(
        "| backend | seed insert_many docs/s | insert_many docs/s | "
        f"{two} at once docs/s | {persister_columns}"
        + "".join(f"{name} p50 / p99 ms (n) | " for name in ENDPOINTS)
    )
    print(f"(attackers: {len(ATTACKERS)} IPs with {ATTACKER_FAILURES:,} failures each)")
    for backend, seed_rate, share, lat in rows:
        cells = [lat[name].cell() if name in lat else "-" for name in ENDPOINTS]
        inserted = f"{share.inserted:,.0f} | {share.inserted_at_once:,.0f}" if share else "- | -"
        persisted = [share.cell(name) if share else "- | - | -" for name in variants]
        print(f"| {backend} | {seed_rate:,.0f} | {inserted} | " + " | ".join([*persisted, *cells]) + " |")
        if api_before is not None:
            cells = [lat[f"{name} before"].cell() if f"{name} before" in lat else "-" for name in ENDPOINTS]
            blank = ["-", "-", "-"] * len(variants)
            row = [f"{backend}, API at {args.api_before}", "-", "-", "-", *blank, *cells]
            print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()

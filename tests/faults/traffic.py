"""Bad-token traffic from many real loopback source addresses, with what each request became.

Each client address (127.0.N.M; Linux routes all of 127/8 to loopback, so the
demo service sees that peer address) keeps one keep-alive HTTP/1.1 connection
and sends one request at a time on a fixed schedule, so an address never
bursts by catching up. Plain asyncio streams instead of an HTTP client
library: the load generator shares two cores with the whole pipeline, and
this costs a fraction of the CPU per request.

Every attempt ends as one of:

* answered: a 401 came back, so the service saw the failure and its capture
  middleware recorded it (send and answer times kept, wall clock, ms);
* unknown: the request was written but no answer came (the service died
  mid-request): its failure may or may not have been recorded;
* refused: no connection, so the service never saw the request.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

REQUEST = (
    b"POST /api/submit HTTP/1.1\r\nHost: demo\r\nAuthorization: Bearer not-a-valid-token\r\n"
    b"Content-Length: 0\r\n\r\n"
)
#: An answer slower than this counts as "unknown" and the connection is dropped.
ANSWER_TIMEOUT_S = 10.0


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def client_ips(block: int, n: int) -> list[str]:
    """``n`` loopback addresses of one block: 127.<block>.<i // 250>.<i % 250 + 1>."""
    return [f"127.{block}.{i // 250}.{i % 250 + 1}" for i in range(n)]


@dataclass
class Outcomes:
    """What every attempt became, per source address. Written by the traffic thread only."""

    answered: dict[str, list[tuple[int, int]]] = field(default_factory=lambda: defaultdict(list))
    unknown: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    refused: int = 0
    other_status: dict[int, int] = field(default_factory=lambda: defaultdict(int))

    def attempts(self) -> int:
        return (
            sum(map(len, self.answered.values()))
            + sum(map(len, self.unknown.values()))
            + self.refused
            + sum(self.other_status.values())
        )

    def answered_total(self) -> int:
        return sum(map(len, self.answered.values()))


async def _answer(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


class Traffic:
    """Runs clients in an event loop of its own thread until ``stop()``.

    ``steady(ips, rate)`` starts clients that send at ``rate`` per address until
    the run stops; ``burst(ip, at, seconds, rate)`` sends from one more address
    for ``seconds`` starting at wall-clock time ``at``. Outcomes accumulate in
    ``outcomes`` across runs (pass the same object to the next ``Traffic``).
    """

    def __init__(self, host: str, port: int, outcomes: Outcomes | None = None) -> None:
        self.host, self.port = host, port
        self.outcomes = outcomes or Outcomes()
        self.started_at = 0.0
        self.stopped_at = 0.0
        self._loop = asyncio.new_event_loop()
        self._stopping: asyncio.Event | None = None
        self._tasks: set[asyncio.Future[None]] = set()
        self._thread = threading.Thread(target=self._run, name="fault-traffic", daemon=True)
        self._ready = threading.Event()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def main() -> None:
            self._stopping = asyncio.Event()
            self._ready.set()
            await self._stopping.wait()
            if self._tasks:
                await asyncio.wait(self._tasks, timeout=ANSWER_TIMEOUT_S + 5)

        self._loop.run_until_complete(main())
        self._loop.close()

    def start(self) -> Traffic:
        self.started_at = time.time()
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        assert self._stopping is not None
        self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(timeout=ANSWER_TIMEOUT_S + 15)
        assert not self._thread.is_alive(), "traffic thread did not stop"
        self.stopped_at = time.time()

    def _spawn(self, ip: str, rate: float, start_at: float, end_at: float | None) -> None:
        def create() -> None:
            task = asyncio.ensure_future(self._client(ip, 1 / rate, start_at, end_at))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        self._loop.call_soon_threadsafe(create)

    def steady(self, ips: Iterable[str], rate_per_ip: float) -> None:
        now = time.time()
        for ip in ips:  # spread the addresses' first requests over one period
            self._spawn(ip, rate_per_ip, now + random.uniform(0, 1 / rate_per_ip), None)

    def burst(self, ip: str, at: float, seconds: float, rate: float) -> None:
        self._spawn(ip, rate, at, at + seconds)

    async def _client(self, ip: str, period: float, start_at: float, end_at: float | None) -> None:
        assert self._stopping is not None
        out = self.outcomes
        conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        next_at = start_at
        try:
            while not self._stopping.is_set():
                delay = next_at - time.time()
                if delay > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stopping.wait(), delay)
                    if self._stopping.is_set():
                        break
                if end_at is not None and time.time() >= end_at:
                    break
                next_at += period
                if next_at < time.time():  # late: skip the missed slots, never catch up in a burst
                    next_at = time.time() + period
                if conn is None:
                    try:
                        conn = await asyncio.wait_for(
                            asyncio.open_connection(self.host, self.port, local_addr=(ip, 0)), 5
                        )
                    except (OSError, TimeoutError):
                        out.refused += 1
                        continue
                reader, writer = conn
                sent = now_ms()
                try:
                    writer.write(REQUEST)
                    status = await asyncio.wait_for(_answer(reader), ANSWER_TIMEOUT_S)
                except (
                    OSError,
                    TimeoutError,
                    asyncio.IncompleteReadError,
                    asyncio.LimitOverrunError,
                    ValueError,
                    IndexError,
                ):
                    out.unknown[ip].append(sent)
                    writer.close()
                    conn = None
                    continue
                if status == 401:
                    out.answered[ip].append((sent, now_ms()))
                else:
                    out.other_status[status] += 1
        finally:
            if conn is not None:
                conn[1].close()

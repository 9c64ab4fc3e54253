"""The host's end of the relay: failed requests leave the request thread as one list append.

``add`` appends an entry (see :mod:`producer.relay`) to a list; every
:data:`RELAY_BATCH` entries the adding thread ships the list as one frame
down a non-blocking pipe to the relay process. The relay and a background
thread start with the middleware (:meth:`RelayClient.start`), or at the
latest with the first entry, so a quiet host's lone failure does not wait
for a batch to fill. The thread ships what is left every :data:`_TICK_S`
while traffic is light, and every
:data:`_BUSY_TICK_S` while request threads ship full batches themselves:
each wake of a second thread costs a busy host dozens of GIL hand-overs
(measured: ~2.5 us of CPU per request at ten wakes a second, ~0.3 us at
two). The same thread reads the relay's counters and publishes them as
this process's Prometheus metrics, so a host's ``/metrics`` looks as if
the sink ran inside it.

The host is never made to wait. Nothing is written to a relay before its
first report says it runs, so one that cannot start loses nothing. A full
pipe keeps frames in memory (at most :data:`_MAX_BACKLOG_BYTES`, then the
oldest are dropped, counted and logged). A relay that died is started
again and given the frames it had not fully read. A relay that cannot be
started, or dies at once, three times running gives way to the same
recorder and sink in this process. What a relay had read but not yet
handed to librdkafka when it was killed is lost, as it would be inside a
host killed the same way.
"""

from __future__ import annotations

import atexit
import fcntl
import logging
import marshal
import os
import select
import subprocess
import sys
import threading
import time
import weakref
from collections import deque
from pathlib import Path
from typing import IO, Any

import failstream
from failstream.producer import metrics
from failstream.producer.capture import FailureRecorder
from failstream.producer.policy import CapturePolicy
from failstream.producer.relay import ASGI_FACTS, MESSAGE, RECORDED_FACTS, EntryDelivery, frame, read_frame
from failstream.producer.shared import EXIT_FLUSH_S, PerConnection, shared_sink
from failstream.producer.sink import KafkaSink
from failstream.settings import Settings

__all__ = [
    "ASGI_FACTS",
    "MESSAGE",
    "RELAY_BATCH",
    "RelayClient",
    "RelayedRecorder",
    "recorder_for",
    "shared_relay",
]

log = logging.getLogger("failstream.producer")

RELAY_BATCH = 64  # entries per frame when the request thread ships; the thread ships smaller ones
# how long a lone failure may wait; woken more often, the thread costs a busy host GIL hand-overs
_TICK_S = 0.1
# stragglers wait this long at most when traffic stops all at once: well under a second, so
# a host killed outright has handed over every failure it answered a second earlier
_BUSY_TICK_S = 0.5
_PIPE_BYTES = 1 << 20
_MAX_BACKLOG_BYTES = 64 << 20
#: how long a starting host waits for its relay's first report before it serves anyway
READY_WAIT_S = 3.0
_SPAWN_TRIES = 3
_RESPAWN_EVERY_S = 1.0
_SHORT_LIFE_S = 5.0  # a relay that dies sooner than this did not really start
_time_ns = time.time_ns


class RelayClient:
    """One per process (see :func:`shared_relay`); thread-safe; starts the relay on first use."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        # the middlewares append to this very list (it is never replaced), and ship at RELAY_BATCH
        self.batch: list[tuple[Any, ...]] = []
        self._lock = threading.Lock()  # the pipe, the backlog and the child
        self._frames: deque[tuple[bytes, int]] = deque()  # (frame, entries) not yet fully written
        self._written = 0  # bytes of the first frame already in the pipe
        self._backlog_bytes = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._fd = -1
        self._spawn_failures = 0
        self._next_spawn = 0.0
        self._started_at = 0.0
        self._ready = False  # the relay reported once: it has read the settings and holds a sink
        self._fallback: EntryDelivery | None = None
        self._thread: threading.Thread | None = None
        self._closing = False
        self._full_ships = 0  # batches request threads shipped: while it grows, the thread idles
        self.dropped = 0
        self.restarts = 0
        self.relay_stats: dict[str, int] = {}  # the running relay's last report of its sink
        # the relay's counters, published here (captured failures and the sink's)
        self._sink_metrics = metrics.SinkMetricsPublisher()
        self._captured: dict[str, metrics.CapturedCounts] = {}
        self._captured_before: dict[tuple[str, str, int], int] = {}  # totals of relays that ended
        self._captured_now: dict[tuple[str, str, int], int] = {}
        _clients.add(self)

    # --- request path -------------------------------------------------------

    def add(self, entry: tuple[Any, ...]) -> None:
        """Queue one entry; never raises into the caller and never waits."""
        batch = self.batch
        batch.append(entry)
        queued = len(batch)
        if queued >= RELAY_BATCH:
            self.ship_full()
        elif queued == 1:
            self.start()  # first of a batch: the thread that ships partial batches must be running

    def start(self) -> None:
        """Start the relay and the shipping thread unless they run; cheap when they do, never raises.

        The middlewares call it when they are built, so the relay is ready
        before the first failure, and with the first entry of every batch, so
        a forked worker (whose relay is not started yet) starts its own.
        """
        if self._thread is not None or self._closing or self._fallback is not None:
            return
        try:
            with self._lock:
                if self._thread is None and self._proc is None and not self._closing:
                    self._spawn()
        except Exception:
            log.exception("failed to start the Failstream relay")

    def ship_full(self) -> None:
        """``ship`` for a request thread whose batch is full: tells the thread traffic is busy."""
        self._full_ships += 1
        self.ship()

    def ship(self) -> None:
        """Hand the entries queued so far to the relay (or keep them, if the pipe is full)."""
        try:
            with self._lock:
                batch = self.batch[:]
                if not batch:
                    return
                # another thread may append meanwhile: only what was copied goes
                del self.batch[: len(batch)]
                if self._fallback is not None:
                    self._deliver_here(batch)
                    return
                data = self._encode(batch)
                if data is None:
                    return
                self._frames.append((data, len(batch)))
                self._backlog_bytes += len(data)
                if self._proc is None:
                    self._spawn()
                self._pump()
                self._bound_backlog()
        except Exception:
            log.exception("failed to hand captured events to the relay")

    @property
    def ready(self) -> bool:
        """Entries handed over now go straight on: the relay reported, or this process sends them."""
        return self._ready or self._fallback is not None

    def wait_ready(self, timeout_s: float = READY_WAIT_S) -> bool:
        """Start the relay and wait (bounded) for its first report; for a host that is starting up.

        A host that waits for this before it serves makes its first failure
        as quick to reach Kafka as any later one. Past the bound, entries are
        held until the relay reports, as always.
        """
        self.start()
        deadline = time.monotonic() + timeout_s
        while not self.ready and not self._closing and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.ready

    # --- pipe ---------------------------------------------------------------

    def _encode(self, batch: list[tuple[Any, ...]]) -> bytes | None:
        try:
            return frame(batch)
        except ValueError:
            pass  # something the host put in an entry marshal can't carry: clean entry by entry
        clean = []
        for entry in batch:
            try:
                marshal.dumps(entry)
                clean.append(entry)
            except ValueError:
                try:
                    clean.append(_plain(entry))
                except Exception as exc:
                    self.dropped += 1
                    log.error("captured failure dropped, its facts could not be read: %r", exc)
        return frame(clean) if clean else None

    def _pump(self) -> None:
        """Write whole frames while the pipe takes them; caller holds the lock."""
        while self._frames and self._fd >= 0 and self._ready:
            data = self._frames[0][0]
            try:
                written = os.write(self._fd, memoryview(data)[self._written :])
            except BlockingIOError:
                return  # pipe full: the thread tries again next tick
            except OSError:
                self._lost_relay()
                return
            self._written += written
            if self._written < len(data):
                return
            self._frames.popleft()
            self._backlog_bytes -= len(data)
            self._written = 0

    def _bound_backlog(self) -> None:
        """A relay that does not read must cost memory up to a bound, then the oldest events."""
        while self._backlog_bytes > _MAX_BACKLOG_BYTES and len(self._frames) > 1:
            index = 1 if self._written else 0  # a frame begun in the pipe must be finished
            data, entries = self._frames[index]
            del self._frames[index]
            self._backlog_bytes -= len(data)
            self.dropped += entries
            log.error("relay not reading: dropped the oldest %d captured failures", entries)

    # --- the relay process --------------------------------------------------

    def _spawn(self) -> None:
        """Start the relay; caller holds the lock. After three failed starts, work in this process."""
        now = time.monotonic()
        if now < self._next_spawn or self._closing:
            return
        self._next_spawn = now + _RESPAWN_EVERY_S
        if self._thread is None:  # it retries a failed start, too
            self._thread = threading.Thread(target=self._run, name="failstream-relay-client", daemon=True)
            self._thread.start()
        env = dict(os.environ)
        root = str(Path(failstream.__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        proc: subprocess.Popen[bytes] | None = None
        try:
            if not sys.executable:
                raise OSError("no Python executable to start it with")
            proc = subprocess.Popen(
                [sys.executable, "-m", "failstream.producer.relay"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
                start_new_session=True,  # a Ctrl-C or a group signal for the host is not for the relay
                close_fds=True,
            )
            assert proc.stdin is not None
            proc.stdin.write(frame(self._settings.as_env()))
            proc.stdin.flush()
        except (OSError, ValueError) as exc:
            if proc is not None:  # started, but gone before it read its settings
                self._close_pipes(proc)
                proc.kill()
                proc.wait()
            self._spawn_failures += 1
            log.error(
                "could not start the Failstream relay (%d of %d): %s", self._spawn_failures, _SPAWN_TRIES, exc
            )
            if self._spawn_failures >= _SPAWN_TRIES:
                self._fall_back()
            return
        self._started_at = now
        fd = proc.stdin.fileno()
        try:
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
        except OSError:
            pass  # the default 64 KiB still works: frames wait in the backlog sooner
        os.set_blocking(fd, False)
        self._proc, self._fd = proc, fd
        self._ready = False
        self._written = 0  # a frame the last relay only half read goes whole to this one

    def _lost_relay(self) -> None:
        """The relay died: start another; caller holds the lock."""
        proc = self._proc
        self._proc, self._fd = None, -1
        self._ready = False
        if proc is not None:
            code = proc.poll()
            log.error("the Failstream relay stopped (exit code %s); starting another", code)
            self._close_pipes(proc)
            self.restarts += 1
            self._end_counts()
            if time.monotonic() - self._started_at < _SHORT_LIFE_S:
                # it can start but not run here (a broken install, say): that counts as failing to start
                self._spawn_failures += 1
                if self._spawn_failures >= _SPAWN_TRIES:
                    self._fall_back()
                    return
            else:
                self._spawn_failures = 0
        self._spawn()

    def _fall_back(self) -> None:
        """No relay can run here: build and send in this process, starting with the backlog."""
        log.error("capturing without the relay: events are built and sent in this process")
        self._fallback = EntryDelivery(self._settings, shared_sink(self._settings))
        # exit handlers run last-registered first: the relays hand their last entries to
        # the sink before the sink closes
        atexit.register(close_shared_relays)
        frames, self._frames = self._frames, deque()
        self._backlog_bytes = self._written = 0
        for data, _ in frames:
            self._deliver_here(marshal.loads(data[4:]))

    def _deliver_here(self, batch: list[tuple[Any, ...]]) -> None:
        assert self._fallback is not None
        for entry in batch:
            try:
                self._fallback.deliver(entry)
            except Exception:
                log.exception("failed to capture a failed request")
        self._captured_now = {(s, r, st): n for s, r, st, n in self._fallback.captured()}
        self._publish_captured()

    @staticmethod
    def _close_pipes(proc: subprocess.Popen[bytes]) -> None:
        for pipe in (proc.stdin, proc.stdout):
            try:
                if pipe is not None:
                    pipe.close()
            except OSError:
                pass

    # --- background thread --------------------------------------------------

    def _run(self) -> None:
        while not self._closing:
            try:
                self._run_until_closed()
            except Exception:
                # a dead shipping thread would lose every later partial batch without a word
                log.exception("the Failstream relay thread failed; restarting it")
                time.sleep(_TICK_S)

    def _run_until_closed(self) -> None:
        full_ships = self._full_ships  # not "busy" at start: a quiet host's first entry must not wait
        while not self._closing:
            busy = full_ships != self._full_ships
            full_ships = self._full_ships
            tick = _BUSY_TICK_S if busy else _TICK_S
            proc = self._proc
            stdout = proc.stdout if proc is not None else None
            if stdout is None:
                time.sleep(_TICK_S)  # no relay yet, or being replaced: look again soon
            else:
                try:
                    ready, _, _ = select.select([stdout], [], [], tick)
                except (OSError, ValueError):
                    ready = []
                if ready and not self._read_report(stdout):
                    time.sleep(_TICK_S)  # its end of the pipe closed: it is exiting
            if self._closing:
                return
            self.ship()
            with self._lock:
                if self._proc is not None and self._proc.poll() is not None:
                    self._lost_relay()
                elif self._proc is None and self._fallback is None and self._frames:
                    self._spawn()
                self._pump()

    def _read_report(self, stdout: IO[bytes]) -> bool:
        """Publish the relay's next report; False at the end of its output."""
        try:
            report = read_frame(stdout)
        except (OSError, ValueError, EOFError):
            return False
        if not isinstance(report, dict):
            return False
        proc = self._proc
        if proc is not None and stdout is proc.stdout:  # not the last word of a relay already replaced
            self._ready = True
        self.relay_stats = report.get("sink") or {}
        self._sink_metrics.publish(self.relay_stats)
        self._captured_now = {(s, r, st): n for s, r, st, n in report.get("captured") or ()}
        self._publish_captured()
        return True

    def _end_counts(self) -> None:
        """A relay ended: its totals stay, and the next one counts from zero."""
        for key, count in self._captured_now.items():
            self._captured_before[key] = self._captured_before.get(key, 0) + count
        self._captured_now = {}
        self._sink_metrics.restart()

    def _publish_captured(self) -> None:
        totals = dict(self._captured_before)
        for key, count in self._captured_now.items():
            totals[key] = totals.get(key, 0) + count
        for (service, reason, status), count in totals.items():
            counts = self._captured.get(service)
            if counts is None:
                counts = self._captured[service] = metrics.captured_counts(service)
            counts.by_reason_status[(reason, status)] = count

    # --- lifecycle ----------------------------------------------------------

    def close(self, timeout_s: float = EXIT_FLUSH_S) -> int:
        """Hand over everything, let the relay deliver it (or spool it), wait for it to exit.

        Returns how many captured failures could not be handed over.
        """
        deadline = time.monotonic() + timeout_s
        self.ship()
        while not self._ready and self._proc is not None and self._proc.poll() is None:
            if time.monotonic() >= deadline:
                break
            time.sleep(0.02)  # a relay just started: its first report lets the frames go
        with self._lock:
            self._closing = True
            proc = self._proc
            while self._frames and self._ready and proc is not None and proc.poll() is None:
                if time.monotonic() >= deadline:
                    break
                self._pump()
                if self._frames:
                    select.select([], [self._fd], [], 0.05)
            unsent = sum(entries for _, entries in self._frames)
            self._frames.clear()
            self._backlog_bytes = self._written = 0
            self._proc, self._fd = None, -1
            thread = self._thread
        if unsent:
            log.error("%d captured failures were not handed to the relay before the deadline", unsent)
        if thread is not None:
            thread.join(_BUSY_TICK_S + 1.0)  # one reader of the relay's reports at a time
        if proc is not None:
            self._stop_relay(proc, deadline + EXIT_FLUSH_S + 2.0)
        return unsent

    def _stop_relay(self, proc: subprocess.Popen[bytes], deadline: float) -> None:
        """Close its input (its cue to deliver, spool the rest and exit) and read its last reports."""
        if proc.stdin is not None:
            try:
                proc.stdin.close()
            except OSError:
                pass
        stdout = proc.stdout
        while stdout is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            ready, _, _ = select.select([stdout], [], [], left)
            if not ready or not self._read_report(stdout):
                break
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.error("the Failstream relay did not exit in time; stopping it")
            proc.terminate()
        self._close_pipes(proc)

    def _after_fork(self) -> None:
        """A forked worker starts its own relay: the parent's pipe, child and entries are not its own."""
        self._lock = threading.Lock()
        del self.batch[:]  # emptied, not replaced: middlewares hold this list
        self._frames = deque()
        self._written = self._backlog_bytes = 0
        self._proc, self._fd, self._thread, self._ready = None, -1, None, False
        self._captured_before, self._captured_now = {}, {}


def _plain(entry: tuple[Any, ...]) -> tuple[Any, ...]:
    """An entry with its header lists as lists of byte pairs and its reason as text."""
    if entry[0] != ASGI_FACTS:
        raise ValueError(f"entry of kind {entry[0]!r} holds something marshal can't carry")
    kind, ts, service, peer, headers, method, route, status, host_reason, response_headers = entry

    def pairs(items: Any) -> list[tuple[bytes, bytes]] | None:
        return None if items is None else [(bytes(k), bytes(v)) for k, v in items]

    return (
        kind, ts, str(service), None if peer is None else str(peer), pairs(headers), str(method),
        str(route), int(status), None if host_reason is None else str(host_reason), pairs(response_headers),
    )  # fmt: skip


class RelayedRecorder(FailureRecorder):
    """A FailureRecorder whose events the relay builds and sends (the WSGI middleware's, by default)."""

    def __init__(
        self, settings: Settings, *, policy: CapturePolicy | None = None, relay: RelayClient | None = None
    ) -> None:
        self.relay = relay if relay is not None else shared_relay(settings)
        self.policy = policy or CapturePolicy.from_settings(settings)
        self.service = self.policy.service
        self.topic = settings.topic_failed_requests
        self.trusted = settings.trusted_proxy_networks
        self.forwarded_header = settings.forwarded_header
        self.captured = metrics.CapturedCounts(self.service)  # counted by the relay, published by the client

    def record(
        self,
        peer: str | None,
        x_forwarded_for: str | None,
        forwarded: str | None,
        method: str,
        route: str,
        status: int,
        has_auth: bool,
        host_reason: str | None,
        user_agent: str,
        request_id: str,
        www_authenticate: str | None = None,
        ts_ms: int | None = None,
    ) -> None:
        ts = _time_ns() // 1_000_000 if ts_ms is None else ts_ms
        facts = (peer, x_forwarded_for, forwarded, method, route, status, has_auth, host_reason)
        self.relay.add((RECORDED_FACTS, ts, self.service, *facts, user_agent, request_id, www_authenticate))


def recorder_for(
    settings: Settings, sink: KafkaSink | None = None, *, policy: CapturePolicy | None = None
) -> FailureRecorder:
    """The relay's recorder unless a sink is given or ``producer_relay`` is off."""
    if sink is None and settings.producer_relay:
        return RelayedRecorder(settings, policy=policy)
    return FailureRecorder(settings, sink, policy=policy)


_clients: weakref.WeakSet[RelayClient] = weakref.WeakSet()


def _after_fork() -> None:
    for client in list(_clients):
        client._after_fork()


os.register_at_fork(after_in_child=_after_fork)

_RELAYS = PerConnection(RelayClient)


def shared_relay(settings: Settings) -> RelayClient:
    """The relay for these connection settings, created on first use and closed at exit."""
    return _RELAYS.get(settings)


def close_shared_relays(timeout_s: float = EXIT_FLUSH_S) -> None:
    _RELAYS.close_all(timeout_s)

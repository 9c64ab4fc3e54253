"""The capture queue: request threads append a failure's facts, one daemon thread does the rest.

This is the shape of Sentry's ``BackgroundWorker`` and OpenTelemetry's
``BatchSpanProcessor``. A request thread pays one bounded ``deque.append``
and returns; building the event (client IP, reason, id, JSON) and handing it
to librdkafka happen on the ``failstream-capture`` thread, in batches.

The thread wakes as seldom as it can, because every wake of a second thread
costs a busy host GIL hand-overs (measured for the relay this replaces:
~2.5 us of CPU per request at ten wakes a second), and each wake brings a
burst of produce calls and, after librdkafka's linger, a produce request of
its own. Idle, it sleeps until the first entry comes; then it lets a batch
gather for :data:`TICK_S`, or less if :data:`BATCH` entries are waiting, and
delivers all of them at once. While failures keep coming (each gather
brought more than one, not counting the start-up's warm-up entry) the
next batches gather for :data:`BUSY_TICK_S` instead, without being woken
by their first entry, so a host that fails all the time pays a few wakes
a second; a gather that brings one failure or none puts the thread back
to sleep until the next entry. A quiet host's lone failure thus waits at
most ``TICK_S`` here, one in a stream of them at most ``BUSY_TICK_S``.

Bounded: past :data:`MAX_ENTRIES` waiting entries the oldest is dropped and
counted (:attr:`CaptureQueue.dropped`, published as
``failstream_producer_dropped_events{cause="queue_full"}``). Fork-safe: a
child process (gunicorn ``--preload``, multiprocessing) starts with an empty
queue, fresh locks and no thread; its first entry starts its own thread.
Flushed at exit by :mod:`producer.shared`.

An entry is a tuple whose first item is the callable that delivers it:
``entry[0](entry)`` runs on the thread. Stdlib only, so importing a
middleware does not import Kafka, pydantic models or Prometheus.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

log = logging.getLogger("failstream.producer")

#: how long a batch may gather once the first entry of it came after a quiet spell: "a few tens of ms"
TICK_S = 0.05
#: how long the next batch gathers while failures keep coming: fewer, bigger batches
BUSY_TICK_S = 0.25
#: a batch this big wakes the thread at once, without waiting out the tick
BATCH = 256
#: entries waiting at most (~1-2 KiB each): past it the oldest is dropped and counted
MAX_ENTRIES = 20_000

Entry = tuple[Any, ...]
Deliver = Callable[[Entry], None]


class CaptureQueue:
    """Bounded queue plus one daemon thread; thread-safe; one per process (see :func:`capture_queue`)."""

    def __init__(
        self,
        *,
        tick_s: float = TICK_S,
        busy_tick_s: float = BUSY_TICK_S,
        batch: int = BATCH,
        max_entries: int = MAX_ENTRIES,
    ) -> None:
        self.tick_s = tick_s
        self.busy_tick_s = busy_tick_s
        self.batch = batch
        self.max_entries = max_entries
        self._reset()
        _queues.add(self)

    def _reset(self) -> None:
        """Fresh state: at construction, and in a forked child (the parent's entries are the parent's)."""
        lock = threading.Lock()
        self._work = threading.Condition(lock)  # the thread waits here for entries
        self._done = threading.Condition(lock)  # flushers wait here for the thread
        self._entries: deque[Entry] = deque(maxlen=self.max_entries)
        self._thread: threading.Thread | None = None
        self._idle = False  # the thread sleeps until the next entry: that one must wake it
        self._busy = False  # a drained batch is being delivered
        self._hurry = False  # a flush or close waits: deliver without letting a batch gather
        self._closing = False
        self.dropped = 0
        self._dropped_published = 0
        self.delivered = 0
        self.failed = 0

    # --- request path -------------------------------------------------------

    def put(self, entry: Entry) -> None:
        """Queue one entry; never waits (beyond a lock held for a notify) and never raises."""
        entries = self._entries
        if len(entries) >= self.max_entries:
            self.dropped += 1  # the deque's maxlen drops the oldest as this one goes in
        entries.append(entry)
        queued = len(entries)
        if (queued == 1 and self._idle) or queued == self.batch:
            with self._work:
                self._work.notify()
        if self._thread is None:
            self.start()

    def start(self) -> None:
        """Start the thread unless it runs; cheap when it does."""
        with self._work:
            if self._thread is not None or self._closing:
                return
            self._thread = threading.Thread(target=self._run, name="failstream-capture", daemon=True)
            self._thread.start()

    # --- the thread ---------------------------------------------------------

    def _run(self) -> None:
        flowing = False  # the last gather brought several entries: failures keep coming
        while True:
            with self._work:
                if not flowing:
                    self._idle = True  # before looking: an entry appended after the look will notify
                    while not self._entries and not self._closing:
                        self._work.wait()
                    self._idle = False
                if len(self._entries) < self.batch and not (self._hurry or self._closing):
                    # let a batch gather; a full one, a flush or a close ends this early
                    self._work.wait(self.busy_tick_s if flowing else self.tick_s)
                batch = _drain(self._entries)
                self._busy = True
                closing = self._closing
            # a lone failure (a quiet host's, or the first one beside the warm-up, which may take the
            # client's start-up) is no stream: the next one goes out soon
            flowing = sum(entry[0] is not warm_up for entry in batch) > 1
            try:
                self._deliver(batch)
            finally:
                with self._done:
                    self._busy = False
                    self._done.notify_all()
            if closing and not self._entries:
                return

    def _deliver(self, batch: list[Entry]) -> None:
        for entry in batch:
            try:
                entry[0](entry)
            except Exception:
                self.failed += 1
                log.exception("failed to turn a captured failure into an event")
        self.delivered += len(batch)
        dropped = self.dropped
        if dropped != self._dropped_published:
            from failstream.producer import metrics  # Prometheus on the thread, not at import

            metrics.DROPPED.labels("queue_full").inc(dropped - self._dropped_published)
            self._dropped_published = dropped

    # --- flush and close ----------------------------------------------------

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait until every entry queued so far is handed to its sink; False past the timeout."""
        deadline = time.monotonic() + timeout_s
        with self._work:
            self._hurry = True
            try:
                while self._entries or self._busy:
                    if self._thread is None or not self._thread.is_alive():
                        break
                    self._work.notify()
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return False
                    self._done.wait(min(left, self.tick_s))
            finally:
                self._hurry = False
            return not (self._entries or self._busy)

    def close(self, timeout_s: float = 5.0) -> int:
        """Deliver what is queued (within ``timeout_s``) and stop the thread; returns entries left."""
        with self._work:
            self._closing = True
            self._work.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout_s)
        elif self._entries:  # no thread ever ran here: deliver on the caller's thread
            self._deliver(_drain(self._entries))
        left = len(self._entries)
        if left:
            log.error("%d captured failures were not turned into events before exit", left)
        return left

    def reopen(self) -> None:
        """After :meth:`close`: take entries again (tests, and hosts that close and go on)."""
        with self._work:
            if self._thread is not None and self._thread.is_alive():
                return
            self._closing = False
            self._thread = None


def warm_up(entry: tuple[Any, ...]) -> None:
    """Entry ``(warm_up, middleware)``: start its sink and learn its topic, for a quick first event.

    librdkafka connects lazily and fetches a topic's partitions on its first
    produce; on a host that fails rarely, that first event is the one that
    matters. Never raises into anything: a down broker is the sink's business.
    """
    recorder = entry[1].recorder
    start = getattr(recorder.sink, "start", None)
    warm_up = getattr(recorder.sink, "warm_up", None)
    try:
        if start is not None:
            start()
        if warm_up is not None:
            warm_up((recorder.topic,))
    except Exception as exc:
        log.debug("capture warm-up: %s", exc)  # the sink logged it once already


def _drain(entries: deque[Entry]) -> list[Entry]:
    """Everything queued, oldest first: ``popleft`` one by one, as request threads append without a lock."""
    batch = []
    popleft = entries.popleft
    while entries:
        batch.append(popleft())
    return batch


_queues: weakref.WeakSet[CaptureQueue] = weakref.WeakSet()
_shared: CaptureQueue | None = None
_shared_lock = threading.Lock()


def capture_queue() -> CaptureQueue:
    """This process's queue, made on first use."""
    global _shared
    queue = _shared
    if queue is None:
        with _shared_lock:
            if _shared is None:
                _shared = CaptureQueue()
            queue = _shared
    return queue


def flush_capture(timeout_s: float = 5.0) -> bool:
    """Wait until every failure captured so far is handed to its sink (to Kafka: ``KafkaSink.flush``)."""
    queue = _shared
    return True if queue is None else queue.flush(timeout_s)


def _after_fork_in_child() -> None:
    global _shared_lock
    _shared_lock = threading.Lock()
    for queue in list(_queues):
        queue._reset()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

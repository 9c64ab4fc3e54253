"""The relay: a child process that turns a host's captured facts into events and sends them to Kafka.

Building an event (client IP, reason, id, JSON) and handing it to
librdkafka costs the host's request thread about 8 % of a trivial request
in CPython, and a Python thread of our own would take the same GIL. So by
default the middlewares only append each failed request's facts to a list;
:class:`producer.relay_client.RelayClient` ships that list in batches
down a pipe to this process, which does the rest with the ordinary
:class:`FailureRecorder` and :class:`KafkaSink` (its spool included), on
another core. It also takes librdkafka's threads, memory and TLS out of the
host process.

Wire: each frame is a 4-byte little-endian length and a :mod:`marshal`
payload, as both ends run the same Python. The host's first frame is its
settings (``Settings.as_env()``); every later one is a list of entries
(see :class:`EntryDelivery`). The relay writes its counters back on
stdout: once as soon as it can take entries (the host writes none before,
so a relay that cannot even start loses nothing; it first connects and
learns the topics, so the first event does not pay for that), then once a
second and a last time before it exits. The sink's counters include
whether it reaches Kafka, which the host publishes as its own gauge. It
stops when the host closes the pipe (or dies): it drains what it has read,
closes the sink (deadline :data:`producer.shared.EXIT_FLUSH_S`, the rest to
the spool) and exits.

    python -m producer.relay      # started by RelayClient, not by hand
"""

from __future__ import annotations

import logging
import marshal
import os
import signal
import struct
import sys
import threading
from collections.abc import Callable
from typing import IO, Any

from failstream.producer.capture import FailureRecorder
from failstream.producer.policy import CapturePolicy
from failstream.producer.request_facts import request_facts
from failstream.producer.shared import EXIT_FLUSH_S
from failstream.producer.sink import KafkaSink
from failstream.settings import Settings

log = logging.getLogger("failstream.producer")

_LENGTH = struct.Struct("<I")
_REPORT_EVERY_S = 1.0  # each report wakes the host's relay thread: see relay_client

#: ("a", ts_ms, service, peer, request headers, method, route, status, host reason, response headers)
ASGI_FACTS = "a"
#: ("r", ts_ms, service, peer, address list, forwarded, method, route, status, has token,
#: host reason, user agent, request id, challenge), as FailureRecorder.record takes them
RECORDED_FACTS = "r"
#: ("m", topic, key, value): a ready event (email events)
MESSAGE = "m"


def frame(payload: Any) -> bytes:
    data = marshal.dumps(payload)
    return _LENGTH.pack(len(data)) + data


def read_frame(stream: IO[bytes]) -> Any:
    """The next payload, or None at the end of the stream (a torn last frame ends it too)."""
    header = stream.read(_LENGTH.size)
    if len(header) < _LENGTH.size:
        return None
    (length,) = _LENGTH.unpack(header)
    data = stream.read(length)
    if len(data) < length:
        return None
    return marshal.loads(data)


class EntryDelivery:
    """Turns relay entries into events on a sink: in the relay, or in the host when no relay can run."""

    def __init__(self, settings: Settings, sink: KafkaSink) -> None:
        self._settings = settings
        self.sink = sink
        self._recorders: dict[str, FailureRecorder] = {}

    def _recorder(self, service: str) -> FailureRecorder:
        recorder = self._recorders.get(service)
        if recorder is None:
            policy = CapturePolicy.build(service=service)
            recorder = self._recorders[service] = FailureRecorder(self._settings, self.sink, policy=policy)
        return recorder

    def deliver(self, entry: tuple[Any, ...]) -> None:
        kind = entry[0]
        if kind == ASGI_FACTS:
            _, ts, service, peer, headers, method, route, status, host_reason, response_headers = entry
            xff, forwarded, has_auth, user_agent, request_id, challenge = request_facts(
                headers, status, host_reason, response_headers, self._settings.forwarded_header
            )
            self._recorder(service).record(
                peer, xff, forwarded, method, route, status, has_auth, host_reason,
                user_agent, request_id, challenge, ts,
            )  # fmt: skip
        elif kind == RECORDED_FACTS:
            (_, ts, service, peer, xff, forwarded, method, route, status, has_auth, host_reason,
             user_agent, request_id, challenge) = entry  # fmt: skip
            self._recorder(service).record(
                peer, xff, forwarded, method, route, status, has_auth, host_reason,
                user_agent, request_id, challenge, ts,
            )  # fmt: skip
        elif kind == MESSAGE:
            _, topic, key, value = entry
            self.sink.send(topic, key, value)
        else:
            raise ValueError(f"unknown relay entry kind {kind!r}")

    def captured(self) -> list[tuple[str, str, int, int]]:
        """(service, reason, status, count) of every failure recorded so far."""
        return [
            (service, reason, status, count)
            for service, recorder in self._recorders.items()
            for (reason, status), count in list(recorder.captured.by_reason_status.items())
        ]


class _Reporter:
    """Writes the relay's counters to the host every second, and once more at the end."""

    def __init__(self, out: IO[bytes], delivery: EntryDelivery) -> None:
        self._out = out
        self._delivery = delivery
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="failstream-relay-report", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def report(self) -> None:
        payload = {"captured": self._delivery.captured(), "sink": self._delivery.sink.stats()}
        with self._lock:
            try:
                self._out.write(frame(payload))
                self._out.flush()
            except (OSError, ValueError):
                pass  # the host is gone: nobody to tell

    def _run(self) -> None:
        while not self._stop.wait(_REPORT_EVERY_S):
            self.report()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2.0)
        self.report()


def run(stdin: IO[bytes], stdout: IO[bytes], on_entry_error: Callable[[BaseException], None]) -> int:
    env = read_frame(stdin)
    if not isinstance(env, dict):
        return 0  # the host went away before it said anything
    os.environ.update(env)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    sink = KafkaSink(settings)
    delivery = EntryDelivery(settings, sink)
    reporter = _Reporter(stdout, delivery)
    try:
        sink.start()
    except Exception:
        pass  # logged once by the sink; events wait in its spool
    sink.warm_up((settings.topic_failed_requests, settings.topic_email_events))
    reporter.report()  # the first report says we are ready: until then the host holds its frames
    reporter.start()
    try:
        while (batch := read_frame(stdin)) is not None:
            for entry in batch:
                try:
                    delivery.deliver(entry)
                except Exception as exc:
                    on_entry_error(exc)
    finally:
        sink.close(EXIT_FLUSH_S)
        reporter.stop()
    return 0


def _log_entry_error(exc: BaseException) -> None:
    log.error("relay could not turn an entry into an event: %r", exc)


def _stop_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(0)  # unwinds through run()'s finally: the sink closes and spools


def main() -> int:
    # the host decides when we stop, by closing the pipe; a Ctrl-C meant for it must
    # not cut the events it already handed over
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s failstream-relay %(levelname)s %(message)s")
    # reports get their own copy of stdout; a stray print from a library goes to stderr
    # instead of into the middle of a frame
    reports = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    return run(sys.stdin.buffer, reports, _log_entry_error)


if __name__ == "__main__":
    sys.exit(main())

"""Capture from a WSGI environ: what the WSGI middleware and the Django one share.

Django's ``request.META`` is the WSGI environ under a WSGI server and an
environ-shaped dict under ASGI, so one reader serves both: the request
thread reads the few environ values an event needs and appends them to the
capture queue; the queue's thread builds the event and sends it.
"""

from __future__ import annotations

import logging
import os
import time
import weakref
from collections.abc import Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from failstream.producer.capture_queue import capture_queue, warm_up
from failstream.producer.classify import REASON_STATE_KEY
from failstream.producer.client_ip import forwarding_slots, wsgi_key
from failstream.producer.policy import CapturePolicy
from failstream.producer.request_facts import forwarding_header_of

if TYPE_CHECKING:
    from failstream.producer.capture import BeforeSend, FailureRecorder
    from failstream.producer.sink import KafkaSink
    from failstream.settings import CaptureSettings

log = logging.getLogger("failstream.producer")

Environ = MutableMapping[str, Any]
RouteOf = Callable[[Environ], str | None]

UNMATCHED_ROUTE = "<unmatched>"


def no_route(environ: Environ) -> str | None:
    return None


class EnvironCapture:
    """Records failed requests read from an environ; give it ``settings`` or a ``recorder``.

    With ``settings`` (events go to the shared sink, or to ``sink=``) the
    request thread only appends to the capture queue; with a ``recorder`` the
    event is built and sent on the request thread (tests, and hosts that
    want exactly that).
    """

    def __init__(
        self,
        *,
        settings: CaptureSettings | None = None,
        recorder: FailureRecorder | None = None,
        sink: KafkaSink | None = None,
        policy: CapturePolicy | None = None,
        before_send: BeforeSend | None = None,
        route_of: RouteOf = no_route,
    ) -> None:
        if recorder is None and settings is None:
            raise TypeError(f"{type(self).__name__} needs settings= or recorder=")
        if recorder is not None and before_send is not None:
            raise TypeError("give before_send= to the recorder, not beside it")
        if before_send is not None and not callable(before_send):
            raise TypeError(f"before_send must be callable, not {type(before_send).__name__}")
        self.route_of = route_of
        self._settings = settings
        self._sink = sink
        self._recorder = recorder
        self._before_send = before_send
        if recorder is not None:
            policy = recorder.policy
        elif policy is None:
            assert settings is not None
            policy = CapturePolicy.from_settings(settings)
        self.policy = policy
        header = forwarding_header_of(settings, recorder)
        # WSGI servers join a header's repeated lines with commas under one environ key
        self._forwarding_key = wsgi_key(header)
        self._forwarding_header = header
        self._put = capture_queue().put
        # the Kafka client starts now, on the capture thread: librdkafka's idempotent producer
        # takes ~0.5 s to get its producer id, which a quiet host's first failure must not wait for.
        # A forked worker (gunicorn --preload) starts its own at its first request.
        self._cold = recorder is None
        if self._cold:
            self.warm_up()
            _captures.add(self)

    def warm_up(self) -> None:
        """Have the capture thread start the Kafka client (at construction, and after a fork)."""
        self._cold = False
        self._put((warm_up, self))

    @property
    def recorder(self) -> FailureRecorder:
        """The recorder that builds and sends these events (made on first use, on the capture thread)."""
        recorder = self._recorder
        if recorder is None:
            from failstream.producer.capture import FailureRecorder  # the thread's work, not the import's

            assert self._settings is not None
            recorder = self._recorder = FailureRecorder(
                self._settings, self._sink, policy=self.policy, before_send=self._before_send
            )
        return recorder

    def route(self, environ: Environ) -> str | None:
        """The route template the ``route_of`` hook names; None if it fails (logged)."""
        try:
            return self.route_of(environ)
        except Exception:
            log.exception("route_of hook failed")
            return None

    def record(self, environ: Environ, status: int, challenge: str | None, route: str | None) -> None:
        """Capture one failed request; never raises into the host."""
        try:
            if route is None:
                route = self.route(environ)
            chain = environ.get(self._forwarding_key)
            addresses, forwarded = forwarding_slots(self._forwarding_header, chain)
            facts = (
                environ.get("REMOTE_ADDR"),
                addresses,
                forwarded,
                environ.get("REQUEST_METHOD", ""),
                route or UNMATCHED_ROUTE,
                status,
                "HTTP_AUTHORIZATION" in environ,
                environ.get(REASON_STATE_KEY),
                environ.get("HTTP_USER_AGENT", ""),
                environ.get("HTTP_X_REQUEST_ID", ""),
                challenge,
            )
            traceparent = environ.get("HTTP_TRACEPARENT")
            if self._recorder is not None:
                self._recorder.record(*facts, None, traceparent)
            else:
                self._put((self._deliver, _time_ns() // 1_000_000, facts, traceparent))
        except Exception:
            log.exception("failed to capture a failed request")

    def _deliver(self, entry: tuple[Any, ...]) -> None:
        """On the capture thread: build the event and hand it to the sink."""
        _, ts_ms, facts, traceparent = entry  # ts_ms: when the request failed
        record: Callable[..., None] = self.recorder.record
        record(*facts, ts_ms, traceparent)


_time_ns = time.time_ns
_captures: weakref.WeakSet[EnvironCapture] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for capture in list(_captures):
        capture._cold = True


os.register_at_fork(after_in_child=_after_fork_in_child)

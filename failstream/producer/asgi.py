"""Pure ASGI middleware that captures failed requests into Kafka.

It observes and never changes: the response is passed through untouched, an
exception from the app is recorded as ``server_error`` and re-raised as is,
and capture errors are swallowed so the host never sees them. One line::

    app.add_middleware(FailureCaptureMiddleware, settings=CaptureSettings())

Per failed request the request thread appends the request's facts to the
process's capture queue (:mod:`producer.capture_queue`) and returns; the
queue's daemon thread reads the headers, builds the event and hands it to
the sink. Given a ``recorder`` instead, the event is built and sent on the
request thread (tests, and hosts that want exactly that).

``before_send`` (a callable taking the event dict, returning it or None)
scrubs or drops events on the capture thread; see :class:`FailureRecorder`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from failstream.producer.asgi_route import UNMATCHED_ROUTE, route_by_endpoint
from failstream.producer.capture_queue import capture_queue, warm_up
from failstream.producer.classify import REASON_STATE_KEY
from failstream.producer.policy import CapturePolicy
from failstream.producer.request_facts import forwarding_header_of, host_reason_of, request_facts

if TYPE_CHECKING:
    from failstream.producer.capture import BeforeSend, FailureRecorder
    from failstream.producer.sink import KafkaSink
    from failstream.settings import CaptureSettings

log = logging.getLogger("failstream.producer")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

__all__ = ["UNMATCHED_ROUTE", "FailureCaptureMiddleware"]


class FailureCaptureMiddleware:
    """Give it ``settings`` (events go to the shared sink, or to ``sink=``) or a ``recorder``."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        settings: CaptureSettings | None = None,
        recorder: FailureRecorder | None = None,
        sink: KafkaSink | None = None,
        policy: CapturePolicy | None = None,
        before_send: BeforeSend | None = None,
    ) -> None:
        if recorder is None and settings is None:
            raise TypeError("FailureCaptureMiddleware needs settings= or recorder=")
        if recorder is not None and before_send is not None:
            raise TypeError("give before_send= to the recorder, not beside it")
        if before_send is not None and not callable(before_send):
            raise TypeError(f"before_send must be callable, not {type(before_send).__name__}")
        self.app = app
        if settings is not None and settings.enforce:
            from failstream.producer.enforcement_asgi import enforcing  # loaded only by hosts that opt in

            self.app = enforcing(app, settings)
        self._before_send = before_send
        self._settings = settings
        self._sink = sink
        self._recorder = recorder
        if recorder is not None:
            policy = recorder.policy
        elif policy is None:
            assert settings is not None
            policy = CapturePolicy.from_settings(settings)
        self.policy = policy
        self._forwarding_header = forwarding_header_of(settings, recorder)
        # every request passes here: plain attribute and set lookups, no method calls
        self._failures = policy.failure_statuses
        self._skip_paths = policy.skip_paths
        self._skip_prefixes = policy.skip_prefixes
        self._cold = recorder is None  # the Kafka client is not started yet: see warm_up
        if recorder is None:
            self._put = capture_queue().put
            self._record = self._queue_record  # type: ignore[method-assign]

    @property
    def recorder(self) -> FailureRecorder:
        """The recorder that builds and sends this middleware's events (made on first use)."""
        recorder = self._recorder
        if recorder is None:
            from failstream.producer.capture import FailureRecorder  # the thread's work, not the import's

            assert self._settings is not None
            recorder = self._recorder = FailureRecorder(
                self._settings, self._sink, policy=self.policy, before_send=self._before_send
            )
        return recorder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._cold:
            # the server's start-up (lifespan) or its first request, in the serving process
            # (after a fork): the capture thread starts the client while the host serves
            self._cold = False
            self._put((warm_up, self))
        if (
            scope["type"] != "http"
            or scope["path"] in self._skip_paths
            or (self._skip_prefixes and scope["path"].startswith(self._skip_prefixes))
        ):
            await self.app(scope, receive, send)
            return

        status = 500
        response_headers: Any = None

        async def send_wrapper(message: Message) -> None:
            nonlocal status, response_headers
            if message["type"] == "http.response.start":
                status = message["status"]
                # kept, not searched: only a 401 to a request with a token needs its challenge
                response_headers = message.get("headers")
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except BaseException:
            self._record(scope, 500, None)
            raise
        if status in self._failures:
            self._record(scope, status, response_headers)

    def _record(self, scope: Scope, status: int, response_headers: Any) -> None:
        """Build and send the event on the request thread: the path of a ``recorder=``."""
        try:
            client = scope.get("client")
            host_reason = host_reason_of(scope.get("state"))
            xff, forwarded, has_auth, user_agent, request_id, challenge, traceparent = request_facts(
                scope.get("headers"), status, host_reason, response_headers, self._forwarding_header
            )
            # positional: this runs for every failed request, and that is the cheaper call
            self.recorder.record(
                client[0] if client else None,
                xff,
                forwarded,
                scope.get("method", ""),
                getattr(scope.get("route"), "path", None) or route_by_endpoint(scope),
                status,
                has_auth,
                host_reason,
                user_agent,
                request_id,
                challenge,
                None,
                traceparent,
            )
        except Exception:
            log.exception("failed to capture a failed request")

    def _queue_record(self, scope: Scope, status: int, response_headers: Any) -> None:
        """The request's facts as they are, for the capture thread to read: the host pays one append.

        Spelled out (no helper calls) because it is all the request thread pays
        per failure. Header lists are copied into tuples: a tuple of bytes
        pairs drops out of the collector's sight at its first pass, where the
        server's list would be traced by every collection until the batch is
        built (measured for the relay: per-round ratio 0.974-0.976 against
        0.947-0.954 holding the lists).
        """
        try:
            client = scope.get("client")
            state = scope.get("state")
            self._put(
                (
                    _deliver,
                    self,
                    _time_ns() // 1_000_000,
                    client[0] if client else None,
                    tuple(scope.get("headers") or ()),
                    scope.get("method", ""),
                    getattr(scope.get("route"), "path", None) or route_by_endpoint(scope),
                    status,
                    state.get(REASON_STATE_KEY) if state.__class__ is dict else host_reason_of(state),
                    tuple(response_headers) if status == 401 and response_headers else None,
                )
            )
        except Exception:
            log.exception("failed to capture a failed request")


def _deliver(entry: tuple[Any, ...]) -> None:
    """On the capture thread: read the headers, build the event, hand it to the sink.

    A function, not a method, so that an entry holds no bound method: one
    object fewer per failure for the collector to count.
    """
    _, middleware, ts, peer, headers, method, route, status, host_reason, response_headers = entry
    xff, forwarded, has_auth, user_agent, request_id, challenge, traceparent = request_facts(
        headers, status, host_reason, response_headers, middleware._forwarding_header
    )
    middleware.recorder.record(
        peer, xff, forwarded, method, route, status, has_auth, host_reason,
        user_agent, request_id, challenge, ts, traceparent,
    )  # fmt: skip


_time_ns = time.time_ns

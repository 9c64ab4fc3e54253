"""WSGI middleware (Flask, Django, any PEP 3333 app) with the ASGI one's policy.

One line::

    app.wsgi_app = FailureCaptureWSGIMiddleware(app.wsgi_app, settings=Settings())   # Flask
    application = FailureCaptureWSGIMiddleware(get_wsgi_application(), settings=...)  # Django

(For Flask, ``failstream.producer.flask.Failstream(app)`` says the same.)
Like the ASGI middleware it only observes: the status is read from
``start_response``, the body passes through untouched (no wrapper when the
app has already called ``start_response``, which Flask and Django do), an
exception is recorded as ``server_error`` and re-raised. The request thread
reads the few environ values an event needs and appends them to the capture
queue; the queue's thread builds the event and sends it.

Route template: a ``route_of(environ)`` hook if given; else a template the
app put in ``environ["failstream.route"]`` (see :func:`set_route`); else
Flask's matched ``request.url_rule``, read while Flask's request context is
still active (Flask calls ``start_response`` inside it; current Flask puts
no werkzeug request in the environ); else ``<unmatched>``, never the raw
path (it carries ids and would blow up every per-route count).
"""

from __future__ import annotations

import logging
import os
import sys
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from typing import TYPE_CHECKING, Any

from failstream.producer.capture_queue import capture_queue, warm_up
from failstream.producer.classify import REASON_STATE_KEY
from failstream.producer.client_ip import forwarding_slots, wsgi_key
from failstream.producer.policy import CapturePolicy
from failstream.producer.request_facts import forwarding_header_of

if TYPE_CHECKING:
    from failstream.producer.capture import FailureRecorder
    from failstream.producer.sink import KafkaSink
    from failstream.settings import Settings

log = logging.getLogger("failstream.producer")

Environ = MutableMapping[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]
RouteOf = Callable[[Environ], str | None]

ROUTE_ENVIRON_KEY = "failstream.route"
UNMATCHED_ROUTE = "<unmatched>"


def set_route(environ: Environ, template: str) -> None:
    """Let a framework the middleware cannot read (Django) name the route template."""
    environ[ROUTE_ENVIRON_KEY] = template


def flask_route() -> str | None:
    """The rule Flask matched for the request being answered, if a Flask request is active.

    Public Flask API only (``has_request_context``, ``request.url_rule``); Flask is
    looked up among the loaded modules, so a host without Flask never imports it.
    """
    flask = sys.modules.get("flask")
    if flask is None or not flask.has_request_context():
        return None
    rule = flask.request.url_rule
    return None if rule is None else str(rule.rule)


def default_route_of(environ: Environ) -> str | None:
    route = environ.get(ROUTE_ENVIRON_KEY)
    if route:
        return str(route)
    flask_rule = flask_route()
    if flask_rule:
        return flask_rule
    # a bare werkzeug app that stores its Request here (older Flask did)
    rule = getattr(environ.get("werkzeug.request"), "url_rule", None)
    return getattr(rule, "rule", None)


class FailureCaptureWSGIMiddleware:
    """Give it ``settings`` (events go to the shared sink, or to ``sink=``) or a ``recorder``."""

    def __init__(
        self,
        app: WSGIApp,
        *,
        settings: Settings | None = None,
        recorder: FailureRecorder | None = None,
        sink: KafkaSink | None = None,
        policy: CapturePolicy | None = None,
        route_of: RouteOf = default_route_of,
    ) -> None:
        if recorder is None and settings is None:
            raise TypeError("FailureCaptureWSGIMiddleware needs settings= or recorder=")
        self.app = app
        self.route_of = route_of
        self._settings = settings
        self._sink = sink
        self._recorder = recorder
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
            self._cold = False
            self._put((warm_up, self))
            _middlewares.add(self)

    @property
    def recorder(self) -> FailureRecorder:
        """The recorder that builds and sends this middleware's events (made on first use)."""
        recorder = self._recorder
        if recorder is None:
            from failstream.producer.capture import FailureRecorder  # the thread's work, not the import's

            assert self._settings is not None
            recorder = self._recorder = FailureRecorder(self._settings, self._sink, policy=self.policy)
        return recorder

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if self._cold:
            # the first request of a forked worker: its own client starts meanwhile
            self._cold = False
            self._put((warm_up, self))
        if self.policy.skips(environ.get("PATH_INFO", "")):
            return self.app(environ, start_response)
        seen = _Response()

        def capture_start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            seen.started(status, headers)
            if self.policy.is_failure(seen.status):  # type: ignore[arg-type]
                # the app's request context (Flask's) is still active here, not after it returns
                seen.route = self._route(environ)
            return start_response(status, headers, exc_info)

        try:
            body = self.app(environ, capture_start_response)
        except BaseException:
            self._record(environ, 500, None, None)
            raise
        if seen.status is None:  # a lazy app: the status comes with the first chunk
            return _WatchedBody(body, self, environ, seen)
        if self.policy.is_failure(seen.status):
            self._record(environ, seen.status, seen.challenge, seen.route)
        return body

    def _route(self, environ: Environ) -> str | None:
        try:
            return self.route_of(environ)
        except Exception:
            log.exception("route_of hook failed")
            return None

    def _record(self, environ: Environ, status: int, challenge: str | None, route: str | None) -> None:
        try:
            if route is None:
                route = self._route(environ)
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
            if self._recorder is not None:
                self._recorder.record(*facts)
            else:
                self._put((self._deliver, _time_ns() // 1_000_000, facts))
        except Exception:
            log.exception("failed to capture a failed request")

    def _deliver(self, entry: tuple[Any, ...]) -> None:
        """On the capture thread: build the event and hand it to the sink."""
        facts: tuple[Any, ...] = (*entry[2], entry[1])  # ts_ms last: when the request failed
        self.recorder.record(*facts)


class _Response:
    __slots__ = ("challenge", "route", "status")

    def __init__(self) -> None:
        self.status: int | None = None
        self.challenge: str | None = None
        self.route: str | None = None

    def started(self, status: str, headers: list[tuple[str, str]]) -> None:
        try:
            self.status = int(status[:3])
        except ValueError:
            self.status = 500
        if self.status == 401:
            for name, value in headers:
                if name.lower() == "www-authenticate":
                    self.challenge = value
                    break


class _WatchedBody:
    """Body of an app that calls ``start_response`` only while iterating."""

    def __init__(
        self,
        body: Iterable[bytes],
        middleware: FailureCaptureWSGIMiddleware,
        environ: Environ,
        seen: _Response,
    ) -> None:
        self._body = body
        self._middleware = middleware
        self._environ = environ
        self._seen = seen
        self._recorded = False

    def __iter__(self) -> Iterator[bytes]:
        try:
            for chunk in self._body:
                self._settle()
                yield chunk
        except BaseException:
            self._settle(failed=True)
            raise
        self._settle()

    def _settle(self, failed: bool = False) -> None:
        if self._recorded:
            return
        status = self._seen.status
        if failed and status is None:
            status = 500
        if status is None:
            return
        self._recorded = True
        if self._middleware.policy.is_failure(status):
            self._middleware._record(self._environ, status, self._seen.challenge, self._seen.route)

    def close(self) -> None:
        close = getattr(self._body, "close", None)
        if close is not None:
            close()


_time_ns = time.time_ns
_middlewares: weakref.WeakSet[FailureCaptureWSGIMiddleware] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for middleware in list(_middlewares):
        middleware._cold = True


os.register_at_fork(after_in_child=_after_fork_in_child)

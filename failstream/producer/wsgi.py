"""WSGI middleware (Flask, Django, any PEP 3333 app) with the ASGI one's policy.

One line::

    application = FailureCaptureWSGIMiddleware(any_wsgi_app, settings=CaptureSettings())

For Flask, ``failstream.producer.flask.Failstream(app)`` says the same; for
Django, ``failstream.producer.django.FailstreamMiddleware`` in ``MIDDLEWARE``
reads the route Django resolved.
Like the ASGI middleware it only observes: the status is read from
``start_response``, the body passes through untouched (no wrapper when the
app has already called ``start_response``, which Flask and Django do), an
exception is recorded as ``server_error`` and re-raised. The request thread
reads the few environ values an event needs and appends them to the capture
queue; the queue's thread builds the event and sends it
(:class:`~failstream.producer.environ_capture.EnvironCapture`, which the
Django middleware shares). ``before_send`` scrubs or drops events there.

Route template: a ``route_of(environ)`` hook if given; else a template the
app put in ``environ["failstream.route"]`` (see :func:`set_route`); else
Flask's matched ``request.url_rule``, read while Flask's request context is
still active (Flask calls ``start_response`` inside it; current Flask puts
no werkzeug request in the environ); else ``<unmatched>``, never the raw
path (it carries ids and would blow up every per-route count).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from failstream.producer.environ_capture import UNMATCHED_ROUTE, Environ, EnvironCapture, RouteOf

if TYPE_CHECKING:
    from failstream.producer.capture import BeforeSend, FailureRecorder
    from failstream.producer.policy import CapturePolicy
    from failstream.producer.sink import KafkaSink
    from failstream.settings import CaptureSettings

__all__ = ["ROUTE_ENVIRON_KEY", "UNMATCHED_ROUTE", "FailureCaptureWSGIMiddleware", "set_route"]

StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]

ROUTE_ENVIRON_KEY = "failstream.route"


def set_route(environ: Environ, template: str) -> None:
    """Let an app the middleware cannot read name the route template."""
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


class FailureCaptureWSGIMiddleware(EnvironCapture):
    """Give it ``settings`` (events go to the shared sink, or to ``sink=``) or a ``recorder``."""

    def __init__(
        self,
        app: WSGIApp,
        *,
        settings: CaptureSettings | None = None,
        recorder: FailureRecorder | None = None,
        sink: KafkaSink | None = None,
        policy: CapturePolicy | None = None,
        before_send: BeforeSend | None = None,
        route_of: RouteOf = default_route_of,
    ) -> None:
        self.app = app
        if settings is not None and settings.enforce:
            from failstream.producer.enforcement_wsgi import enforcing  # loaded only by hosts that opt in

            self.app = enforcing(app, settings)
        super().__init__(
            settings=settings, recorder=recorder, sink=sink, policy=policy, before_send=before_send,
            route_of=route_of,
        )  # fmt: skip

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if self._cold:
            self.warm_up()  # the first request of a forked worker: its own client starts meanwhile
        if self.policy.skips(environ.get("PATH_INFO", "")):
            return self.app(environ, start_response)
        seen = _Response()

        def capture_start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            seen.started(status, headers)
            if self.policy.is_failure(seen.status):  # type: ignore[arg-type]
                # the app's request context (Flask's) is still active here, not after it returns
                seen.route = self.route(environ)
            return start_response(status, headers, exc_info)

        try:
            body = self.app(environ, capture_start_response)
        except BaseException:
            self.record(environ, 500, None, None)
            raise
        if seen.status is None:  # a lazy app: the status comes with the first chunk
            return _WatchedBody(body, self, environ, seen)
        if self.policy.is_failure(seen.status):
            self.record(environ, seen.status, seen.challenge, seen.route)
        return body


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
            self._middleware.record(self._environ, status, self._seen.challenge, self._seen.route)

    def close(self) -> None:
        close = getattr(self._body, "close", None)
        if close is not None:
            close()

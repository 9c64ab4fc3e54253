"""WSGI middleware (Flask, Django, any PEP 3333 app) with the ASGI one's policy.

One line::

    app.wsgi_app = FailureCaptureWSGIMiddleware(app.wsgi_app, settings=Settings())   # Flask
    application = FailureCaptureWSGIMiddleware(get_wsgi_application(), settings=...)  # Django

Like the ASGI middleware it only observes: the status is read from
``start_response``, the body passes through untouched (no wrapper when the
app has already called ``start_response``, which Flask and Django do), an
exception is recorded as ``server_error`` and re-raised.

Route template: a ``route_of(environ)`` hook if given; else a template the
app put in ``environ["failstream.route"]`` (see :func:`set_route`); else
Flask/werkzeug's matched ``url_rule``; else ``<unmatched>``, never the raw
path (it carries ids and would blow up every per-route count).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from typing import Any

from failstream.producer.capture import FailureRecorder
from failstream.producer.classify import REASON_STATE_KEY
from failstream.producer.client_ip import forwarding_slots, wsgi_key
from failstream.producer.policy import CapturePolicy
from failstream.producer.relay_client import recorder_for
from failstream.producer.request_facts import forwarding_header_of
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
    """Let a framework without a werkzeug request (Django) name the route template."""
    environ[ROUTE_ENVIRON_KEY] = template


def default_route_of(environ: Environ) -> str | None:
    route = environ.get(ROUTE_ENVIRON_KEY)
    if route:
        return str(route)
    # werkzeug's Request stores itself here; Flask sets url_rule when a rule matched
    rule = getattr(environ.get("werkzeug.request"), "url_rule", None)
    return getattr(rule, "rule", None)


class FailureCaptureWSGIMiddleware:
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
        if recorder is None:
            if settings is None:
                raise TypeError("FailureCaptureWSGIMiddleware needs settings= or recorder=")
            recorder = recorder_for(settings, sink, policy=policy)
        self.app = app
        self.recorder = recorder
        self.route_of = route_of
        header = forwarding_header_of(settings, recorder)
        # WSGI servers join a header's repeated lines with commas under one environ key
        self._forwarding_key = wsgi_key(header)
        self._forwarding_header = header
        relay = getattr(recorder, "relay", None)
        if relay is not None:
            # WSGI has no start-up hook: the app is built before it serves, so waiting
            # (bounded) here makes a quiet host's first failure as quick as any later one
            relay.wait_ready()

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if self.recorder.skips(environ.get("PATH_INFO", "")):
            return self.app(environ, start_response)
        seen = _Response()

        def capture_start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            seen.started(status, headers)
            return start_response(status, headers, exc_info)

        try:
            body = self.app(environ, capture_start_response)
        except BaseException:
            self._record(environ, 500, None)
            raise
        if seen.status is None:  # a lazy app: the status comes with the first chunk
            return _WatchedBody(body, self, environ, seen)
        if self.recorder.is_failure(seen.status):
            self._record(environ, seen.status, seen.challenge)
        return body

    def _record(self, environ: Environ, status: int, challenge: str | None) -> None:
        try:
            route = None
            try:
                route = self.route_of(environ)
            except Exception:
                log.exception("route_of hook failed")
            chain = environ.get(self._forwarding_key)
            addresses, forwarded = forwarding_slots(self._forwarding_header, chain)
            self.recorder.record(
                peer=environ.get("REMOTE_ADDR"),
                x_forwarded_for=addresses,
                forwarded=forwarded,
                method=environ.get("REQUEST_METHOD", ""),
                route=route or UNMATCHED_ROUTE,
                status=status,
                has_auth="HTTP_AUTHORIZATION" in environ,
                host_reason=environ.get(REASON_STATE_KEY),
                user_agent=environ.get("HTTP_USER_AGENT", ""),
                request_id=environ.get("HTTP_X_REQUEST_ID", ""),
                www_authenticate=challenge,
            )
        except Exception:
            log.exception("failed to capture a failed request")


class _Response:
    __slots__ = ("challenge", "status")

    def __init__(self) -> None:
        self.status: int | None = None
        self.challenge: str | None = None

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
        if self._middleware.recorder.is_failure(status):
            self._middleware._record(self._environ, status, self._seen.challenge)

    def close(self) -> None:
        close = getattr(self._body, "close", None)
        if close is not None:
            close()

"""WSGI layer that refuses a decided client before the app runs (``FAILSTREAM_ENFORCE``).

The WSGI twin of ``enforcement_asgi``: the capture middleware (and so the
Flask extension) puts it right inside itself, so a refusal is a response the
capture records, with reason ``blocked`` named in the environ. The decisions
feed starts on the first request, in the serving process (after a fork:
gunicorn ``--preload``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, MutableMapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from failstream.producer.classify import REASON_STATE_KEY
from failstream.producer.client_ip import wsgi_key
from failstream.producer.enforcement import BLOCKED, Enforcer

if TYPE_CHECKING:
    from failstream.settings import CaptureSettings

Environ = MutableMapping[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]

_REFUSED_BODY = b"refused: too many failed requests from this address\n"


def enforcing(app: WSGIApp, settings: CaptureSettings) -> DecisionEnforcementWSGIMiddleware:
    """``app`` behind enforcement of the decisions on ``settings.topic_decisions``."""
    return DecisionEnforcementWSGIMiddleware(app, enforcer=Enforcer.from_settings(settings))


class DecisionEnforcementWSGIMiddleware:
    def __init__(self, app: WSGIApp, *, enforcer: Enforcer) -> None:
        self.app = app
        self.enforcer = enforcer
        self._retry_after = enforcer.retry_after
        self._header_key = wsgi_key(enforcer.forwarding_header) if enforcer.trusted else None
        status = HTTPStatus(enforcer.status)
        self._status_line = f"{status.value} {status.phrase}"
        self._cold = True

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if self._cold:
            self._cold = False
            self.enforcer.start()
        forwarded = environ.get(self._header_key) if self._header_key else None
        seconds = self._retry_after(environ.get("REMOTE_ADDR"), forwarded)
        if seconds is None:
            return self.app(environ, start_response)
        environ[REASON_STATE_KEY] = BLOCKED
        start_response(
            self._status_line,
            [
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Retry-After", str(seconds)),
                ("Content-Length", str(len(_REFUSED_BODY))),
            ],
        )
        return [_REFUSED_BODY]

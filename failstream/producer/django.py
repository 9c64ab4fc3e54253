"""Django middleware: ``"failstream.producer.django.FailstreamMiddleware"`` in ``MIDDLEWARE``.

Put it first, so it sees the response every other middleware settled on.
It only observes, as the WSGI and ASGI middlewares do: the response is
returned untouched, an exception that reaches it (only with
``DEBUG_PROPAGATE_EXCEPTIONS``: Django turns the others into a 500 response
below it) is recorded as a 500 and re-raised, and capture errors never
reach the host. Sync and async: under ASGI it runs as a coroutine, so
Django adds no thread hop for it.

The route is the pattern Django resolved (``request.resolver_match.route``,
e.g. ``/orders/<int:order_id>``; a path() route gets the leading ``/`` the
other frameworks' templates have, a re_path() regex is kept as it is); a
request that matched nothing is ``<unmatched>``. ``request.META`` is the
WSGI environ (or its ASGI equivalent), so the facts are read and queued by
the same code as the WSGI middleware's (:mod:`~failstream.producer.environ_capture`).

Configured from Django's settings, both optional:

* ``FAILSTREAM_SETTINGS``: a :class:`failstream.settings.CaptureSettings`; by
  default one read from the ``FAILSTREAM_*`` environment.
* ``FAILSTREAM_BEFORE_SEND``: a callable, or its dotted path, given each
  event dict on the capture thread; it returns the event (scrubbed) or None.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from failstream.producer.environ_capture import EnvironCapture

if TYPE_CHECKING:
    from failstream.producer.capture import BeforeSend
    from failstream.settings import CaptureSettings

log = logging.getLogger("failstream.producer")


def _configured() -> tuple[CaptureSettings, BeforeSend | None]:
    from django.conf import settings as django_settings
    from django.utils.module_loading import import_string

    settings = getattr(django_settings, "FAILSTREAM_SETTINGS", None)
    if settings is None:
        from failstream.settings import CaptureSettings

        settings = CaptureSettings()
    before_send = getattr(django_settings, "FAILSTREAM_BEFORE_SEND", None)
    if isinstance(before_send, str):
        before_send = import_string(before_send)
    return settings, before_send


def route_of(match: Any) -> str | None:
    """The template of a ``ResolverMatch``, shaped like the other frameworks' (a leading ``/``)."""
    route = getattr(match, "route", None)
    if route is None:
        return None
    return route if route.startswith(("/", "^")) else f"/{route}"


class FailstreamMiddleware:
    """Captures a Django project's failed requests; built by Django with ``get_response``."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Any, *, capture: EnvironCapture | None = None) -> None:
        # Django's own dependency, loaded by Django before any middleware is built
        from asgiref.sync import iscoroutinefunction, markcoroutinefunction

        self.get_response = get_response
        if capture is None:
            settings, before_send = _configured()
            capture = EnvironCapture(settings=settings, before_send=before_send)
        self.capture = capture
        self._failures = capture.policy.failure_statuses
        self._async = iscoroutinefunction(get_response)
        if self._async:
            markcoroutinefunction(self)

    def __call__(self, request: Any) -> Any:
        if self._async:
            return self._acall(request)
        if self.capture._cold:
            self.capture.warm_up()  # the first request of a forked worker: its own client starts meanwhile
        try:
            response = self.get_response(request)
        except BaseException:
            self._failed(request, 500, None)
            raise
        if response.status_code in self._failures:
            self._failed(request, response.status_code, response)
        return response

    async def _acall(self, request: Any) -> Any:
        if self.capture._cold:
            self.capture.warm_up()
        try:
            response = await self.get_response(request)
        except BaseException:
            self._failed(request, 500, None)
            raise
        if response.status_code in self._failures:
            self._failed(request, response.status_code, response)
        return response

    def _failed(self, request: Any, status: int, response: Any) -> None:
        try:
            capture = self.capture
            if capture.policy.skips(request.path_info):
                return
            challenge = response.get("WWW-Authenticate") if status == 401 and response is not None else None
            route = route_of(getattr(request, "resolver_match", None))
            capture.record(request.META, status, challenge, route)
        except Exception:
            log.exception("failed to capture a failed request")

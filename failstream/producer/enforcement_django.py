"""Django: refuse a decided client before the view runs (``FAILSTREAM_ENFORCE``).

Add it to ``MIDDLEWARE`` right after ``failstream.producer.django.FailstreamMiddleware``,
so the capture sees the refusal and records it with reason ``blocked``::

    MIDDLEWARE = [
        "failstream.producer.django.FailstreamMiddleware",
        "failstream.producer.enforcement_django.FailstreamEnforcementMiddleware",
        ...
    ]

It reads the same settings as the capture (``FAILSTREAM_SETTINGS`` or the
environment); without ``enforce`` it tells Django it is not used, and Django
leaves it out of the chain. Sync and async, like the capture middleware.
"""

from __future__ import annotations

from typing import Any

from failstream.producer.classify import REASON_STATE_KEY
from failstream.producer.client_ip import wsgi_key
from failstream.producer.enforcement import BLOCKED, Enforcer

_REFUSED_BODY = b"refused: too many failed requests from this address\n"


class FailstreamEnforcementMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Any, *, enforcer: Enforcer | None = None) -> None:
        from asgiref.sync import iscoroutinefunction, markcoroutinefunction

        if enforcer is None:
            from django.core.exceptions import MiddlewareNotUsed

            from failstream.producer.django import _configured

            settings, _ = _configured()
            if not settings.enforce:
                raise MiddlewareNotUsed("FAILSTREAM_ENFORCE is off")
            enforcer = Enforcer.from_settings(settings)
        self.get_response = get_response
        self.enforcer = enforcer
        self._header_key = wsgi_key(enforcer.forwarding_header) if enforcer.trusted else None
        self._cold = True
        self._async = iscoroutinefunction(get_response)
        if self._async:
            markcoroutinefunction(self)

    def __call__(self, request: Any) -> Any:
        if self._async:
            return self._acall(request)
        refused = self._refusal(request)
        return refused if refused is not None else self.get_response(request)

    async def _acall(self, request: Any) -> Any:
        refused = self._refusal(request)
        return refused if refused is not None else await self.get_response(request)

    def _refusal(self, request: Any) -> Any:
        if self._cold:
            self._cold = False
            self.enforcer.start()  # in the serving process: after a fork
        meta = request.META
        forwarded = meta.get(self._header_key) if self._header_key else None
        seconds = self.enforcer.retry_after(meta.get("REMOTE_ADDR"), forwarded)
        if seconds is None:
            return None
        from django.http import HttpResponse

        meta[REASON_STATE_KEY] = BLOCKED
        response = HttpResponse(
            _REFUSED_BODY, status=self.enforcer.status, content_type="text/plain; charset=utf-8"
        )
        response["Retry-After"] = str(seconds)
        return response

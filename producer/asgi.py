"""Pure ASGI middleware that captures failed requests into Kafka.

It observes and never changes: the response is passed through untouched, an
exception from the app is recorded as ``server_error`` and re-raised as is,
and capture errors are swallowed so the host never sees them.
"""

from __future__ import annotations

import logging
from typing import Any

from producer.capture import FailureRecorder

log = logging.getLogger("failstream.producer")

Scope = dict[str, Any]


class FailureCaptureMiddleware:
    """``app.add_middleware(FailureCaptureMiddleware, recorder=FailureRecorder(settings, sink))``."""

    def __init__(self, app: Any, *, recorder: FailureRecorder) -> None:
        self.app = app
        self.recorder = recorder

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] in self.recorder.skip_paths:
            await self.app(scope, receive, send)
            return

        status = 500

        async def send_wrapper(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except BaseException:
            self._record(scope, 500)
            raise
        if self.recorder.is_failure(status):
            self._record(scope, status)

    def _record(self, scope: Scope, status: int) -> None:
        try:
            headers = dict(scope.get("headers") or ())
            client = scope.get("client")
            route = scope.get("route")
            state = scope.get("state") or {}
            self.recorder.record(
                peer=client[0] if client else None,
                x_forwarded_for=_header(headers, b"x-forwarded-for"),
                forwarded=_header(headers, b"forwarded"),
                method=scope.get("method", ""),
                route=getattr(route, "path", None) or "<unmatched>",
                status=status,
                has_auth=b"authorization" in headers,
                host_reason=state.get("failstream_reason") if isinstance(state, dict) else None,
                user_agent=_header(headers, b"user-agent") or "",
                request_id=_header(headers, b"x-request-id") or "",
            )
        except Exception:
            log.exception("failed to capture a failed request")


def _header(headers: dict[bytes, bytes], name: bytes) -> str | None:
    value = headers.get(name)
    return value.decode("latin-1") if value is not None else None

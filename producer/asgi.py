"""Pure ASGI middleware that captures failed requests into Kafka.

It observes and never changes: the response is passed through untouched, an
exception from the app is recorded as ``server_error`` and re-raised as is,
and capture errors are swallowed so the host never sees them. One line::

    app.add_middleware(FailureCaptureMiddleware, settings=Settings())
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from failstream.settings import Settings
from producer.capture import FailureRecorder
from producer.classify import REASON_STATE_KEY
from producer.policy import CapturePolicy
from producer.sink import KafkaSink

log = logging.getLogger("failstream.producer")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

UNMATCHED_ROUTE = "<unmatched>"


class FailureCaptureMiddleware:
    """Give it ``settings`` (shared sink, policy from settings) or a ready ``recorder``."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        settings: Settings | None = None,
        recorder: FailureRecorder | None = None,
        sink: KafkaSink | None = None,
        policy: CapturePolicy | None = None,
    ) -> None:
        if recorder is None:
            if settings is None:
                raise TypeError("FailureCaptureMiddleware needs settings= or recorder=")
            recorder = FailureRecorder(settings, sink, policy=policy)
        self.app = app
        self.recorder = recorder
        # every request passes here: plain attribute and set lookups, no method calls
        self._failures = recorder.policy.failure_statuses
        self._skip_paths = recorder.policy.skip_paths
        self._skip_prefixes = recorder.policy.skip_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
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
        try:
            wanted: dict[bytes, str] = {}
            for key, value in scope.get("headers") or ():
                if key in _WANTED and key not in wanted:
                    wanted[key] = "" if key == b"authorization" else value.decode("latin-1")
            has_auth = b"authorization" in wanted
            client = scope.get("client")
            route = scope.get("route")
            state = scope.get("state")
            # ASGI says state is a dict: the isinstance check (an ABC, slow) is only the fallback
            if state.__class__ is dict or isinstance(state, MutableMapping):
                host_reason = state.get(REASON_STATE_KEY)
            else:
                host_reason = None
            challenge = None
            if status == 401 and has_auth and not host_reason and response_headers:
                found = _find(response_headers, b"www-authenticate")
                challenge = found.decode("latin-1") if found is not None else None
            # positional: this runs for every failed request, and that is the cheaper call
            self.recorder.record(
                client[0] if client else None,
                wanted.get(b"x-forwarded-for"),
                wanted.get(b"forwarded"),
                scope.get("method", ""),
                getattr(route, "path", None) or UNMATCHED_ROUTE,
                status,
                has_auth,
                host_reason,
                wanted.get(b"user-agent", ""),
                wanted.get(b"x-request-id", ""),
                challenge,
            )
        except Exception:
            log.exception("failed to capture a failed request")


# only presence of authorization is used; its value is never read into the event
_WANTED = frozenset((b"x-forwarded-for", b"forwarded", b"authorization", b"user-agent", b"x-request-id"))


def _find(headers: Any, name: bytes) -> bytes | None:
    """First value of a header; ASGI names are lower-case already."""
    for key, value in headers:
        if key == name:
            return value  # type: ignore[no-any-return]
    return None

"""Pure ASGI layer that refuses a decided client before the app runs (``FAILSTREAM_ENFORCE``).

The capture middleware puts it right inside itself, so a refusal is a
response the capture sees (status ``enforce_status``, 429 by default) and
records with reason ``blocked`` (named in the scope's state, as a host
would). A client without a decision costs one dict lookup; the decisions
feed starts on the first request, in the serving process (after a fork).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from failstream.producer.classify import REASON_STATE_KEY
from failstream.producer.enforcement import BLOCKED, Enforcer

if TYPE_CHECKING:
    from failstream.settings import CaptureSettings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_REFUSED_BODY = b"refused: too many failed requests from this address\n"


def enforcing(app: ASGIApp, settings: CaptureSettings) -> DecisionEnforcementMiddleware:
    """``app`` behind enforcement of the decisions on ``settings.topic_decisions``."""
    return DecisionEnforcementMiddleware(app, enforcer=Enforcer.from_settings(settings))


class DecisionEnforcementMiddleware:
    def __init__(self, app: ASGIApp, *, enforcer: Enforcer) -> None:
        self.app = app
        self.enforcer = enforcer
        self._retry_after = enforcer.retry_after
        self._header = enforcer.forwarding_header.encode()
        self._read_header = bool(enforcer.trusted)
        self._cold = True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._cold:
            self._cold = False
            self.enforcer.start()
        if scope["type"] == "http":
            client = scope.get("client")
            forwarded = self._forwarded(scope) if self._read_header else None
            seconds = self._retry_after(client[0] if client else None, forwarded)
            if seconds is not None:
                await self._refuse(scope, send, seconds)
                return
        await self.app(scope, receive, send)

    def _forwarded(self, scope: Scope) -> str | None:
        """The chosen forwarding header, all its lines joined in order (only behind trusted proxies)."""
        values = [v.decode("latin-1") for k, v in scope.get("headers") or () if k == self._header]
        return ",".join(values) if values else None

    async def _refuse(self, scope: Scope, send: Send, seconds: int) -> None:
        state = scope.setdefault("state", {})
        if isinstance(state, MutableMapping):
            state[REASON_STATE_KEY] = BLOCKED
        await send(
            {
                "type": "http.response.start",
                "status": self.enforcer.status,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"retry-after", str(seconds).encode()),
                    (b"content-length", str(len(_REFUSED_BODY)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": _REFUSED_BODY})

"""Every page the API serves carries a CSP with ``frame-ancestors 'none'``.

A pure ASGI middleware: it looks at the start of each HTTP response and, for
an HTML page or anything under ``/static/`` (``/static/index.html`` is the
dashboard too, by another path), adds the security headers the response does
not already set. The dashboard's CSP allows this origin only; the OpenAPI
pages (``/docs``, ``/redoc``) load their viewer from FastAPI's CDN and run
an inline bootstrap script, so theirs allows exactly that, and neither can
be framed (clickjacking) or change the page's base URL.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

DASHBOARD_CSP = (
    "default-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_CDN = "https://cdn.jsdelivr.net"
DOCS_CSP = (
    f"default-src 'self'; script-src 'self' 'unsafe-inline' {_CDN}; "
    f"style-src 'self' 'unsafe-inline' {_CDN} https://fonts.googleapis.com; "
    "font-src 'self' https://fonts.gstatic.com; "
    "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; connect-src 'self'; "
    "worker-src 'self' blob:; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
DOCS_PATHS = ("/docs", "/redoc")

#: the headers every page gets besides its CSP
PAGE_HEADERS = {
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _is_page(path: str, content_type: bytes) -> bool:
    return path.startswith("/static/") or content_type.split(b";")[0].strip().lower() == b"text/html"


def headers_for(path: str) -> dict[str, str]:
    """The security headers a page at ``path`` is served with."""
    docs = any(path == p or path.startswith(p + "/") for p in DOCS_PATHS)
    return {"Content-Security-Policy": DOCS_CSP if docs else DASHBOARD_CSP, **PAGE_HEADERS}


class PageSecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw: list[tuple[bytes, bytes]] = list(message.get("headers", []))
                present = {name.lower() for name, _ in raw}
                content_type = next((v for n, v in raw if n.lower() == b"content-type"), b"")
                if _is_page(path, content_type):
                    for name, value in headers_for(path).items():
                        if name.lower().encode() not in present:
                            raw.append((name.lower().encode(), value.encode()))
                    message = {**message, "headers": raw}
            await send(message)

        await self.app(scope, receive, send_with_headers)

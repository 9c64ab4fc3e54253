"""API request metrics: a latency histogram with bounded labels, as pure ASGI middleware.

Labels are the route *template* (``/api/v1/ips/{ip}``, never the raw path or an
IP), the method (unknown ones folded into ``other``) and the status class
(``2xx``...), so the number of series is fixed by the code, not by traffic.
Each app has its own registry: two apps in one process (tests) do not clash.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "failstream_api_request_duration_seconds",
            "API request latency by route template, method and status class",
            ["route", "method", "status"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=self.registry,
        )
        self.readiness_probes = Counter(
            "failstream_api_readiness_probes",
            "Probes of MongoDB and Kafka run for /readyz (at most about one a second, however many ask)",
            registry=self.registry,
        )


def route_template(scope: Scope) -> str:
    """The matched route's full template, or ``unmatched`` (404s never add a series per path).

    FastAPI 0.16x keeps the router-relative route in ``scope["route"]`` and the full
    template (prefixes included) in its effective route context; a unit test pins this.
    """
    fastapi_scope = scope.get("fastapi")
    context = fastapi_scope.get("effective_route_context") if isinstance(fastapi_scope, dict) else None
    path = getattr(context, "path_format", None)
    if not path:
        route = scope.get("route")
        path = getattr(route, "path_format", None) or getattr(route, "path", None)
    return str(path) if path else "unmatched"


class RequestMetricsMiddleware:
    def __init__(self, app: ASGIApp, *, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # an exception before the response start is a 500 to the client

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            method = scope.get("method", "GET")
            self.metrics.latency.labels(
                route_template(scope), method if method in _METHODS else "other", f"{status // 100}xx"
            ).observe(time.perf_counter() - start)

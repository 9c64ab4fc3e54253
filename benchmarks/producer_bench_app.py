"""The host apps the producer benchmarks load, with or without the capture middleware.

``python -m benchmarks.producer_bench_app --port 8101 [--app orders] [--capture | --discard | --passthrough]``
serves one under uvicorn (events go to the local broker on a benchmark topic):

* ``items`` (default): one Starlette route that does nothing but answer 401,
  the worst case: the middleware's cost against no work at all.
* ``orders``: a realistic FastAPI endpoint, ``POST /api/orders/{order_id}``
  with a pydantic body of ten fields and a dependency that checks a bearer
  token, answering JSON. The load generator decides how many requests carry
  a wrong token (401) and are captured.

``--capture`` is the one line a host adds: facts on the capture queue, the
event built and sent by its thread, in this process.

``--gc-log PATH`` (diagnosis only) counts the garbage collector's runs per
generation and thread, and their time, and writes the totals so far as JSON
to ``PATH`` on each SIGUSR1.
"""

from __future__ import annotations

import argparse
import gc
import hmac
import json
import os
import signal
import tempfile
import threading
import time
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from failstream.producer.asgi import FailureCaptureMiddleware
from failstream.producer.sink import KafkaSink
from failstream.settings import Settings

TOPIC = "bench-failed-requests"
#: the token the orders app accepts; any other is answered 401
GOOD_TOKEN = "bench-good-token-0123456789"


async def protected(request: Request) -> PlainTextResponse:
    return PlainTextResponse("invalid token", status_code=401, headers={"WWW-Authenticate": "Bearer"})


def bench_settings(spool_dir: Path | None = None) -> Settings:
    """Benchmark settings; a spool dir given by the parent (environment) wins over a fresh temp dir."""
    if spool_dir is None and "FAILSTREAM_PRODUCER_SPOOL_DIR" not in os.environ:
        spool_dir = Path(tempfile.mkdtemp(prefix="bench-spool-"))
    extra = {"producer_spool_dir": spool_dir} if spool_dir is not None else {}
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        topic_failed_requests=TOPIC,
        service_name="bench",
        **extra,
    )


class DiscardingSink:
    """Builds nothing further: isolates the middleware's own cost from Kafka's (diagnosis only)."""

    def send(self, topic: str, key: bytes | str | None, value: bytes) -> None:
        return None


class PassThrough:
    """A pure ASGI middleware that wraps ``send`` like ours and records nothing (diagnosis only):
    the cost of being any such middleware at all."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_wrapper(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, send_wrapper)


def build_app(
    capture: bool, sink: KafkaSink | DiscardingSink | None = None, settings: Settings | None = None
) -> Starlette:
    app = Starlette(routes=[Route("/api/items/{item_id}", protected, methods=["GET", "POST"])])
    if capture:
        settings = settings or bench_settings()
        app.add_middleware(FailureCaptureMiddleware, settings=settings, sink=sink)
    return app


class Order(BaseModel):
    """Ten fields, as a realistic write endpoint validates them."""

    customer_id: int = Field(ge=1)
    sku: str = Field(min_length=1, max_length=64)
    quantity: int = Field(ge=1, le=1000)
    unit_price: float = Field(ge=0)
    currency: str = Field(min_length=3, max_length=3)
    express: bool = False
    coupon: str | None = None
    note: str = Field(default="", max_length=500)
    email: str = Field(max_length=254)
    tags: list[str] = Field(default_factory=list, max_length=10)


_bearer = HTTPBearer(auto_error=False)


def _caller(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> str:
    if credentials is None or not hmac.compare_digest(credentials.credentials.encode(), GOOD_TOKEN.encode()):
        raise HTTPException(401, "invalid token", headers={"WWW-Authenticate": "Bearer"})
    return "customer"


async def place_order(order_id: int, order: Order, who: Annotated[str, Depends(_caller)]) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "by": who,
        "total": round(order.quantity * order.unit_price, 2),
        "currency": order.currency,
        "express": order.express,
    }


def build_orders_app(
    capture: bool, sink: KafkaSink | DiscardingSink | None = None, settings: Settings | None = None
) -> FastAPI:
    """The realistic endpoint: FastAPI, a ten-field pydantic body, a bearer-token dependency, JSON out."""
    app = FastAPI()
    app.post("/api/orders/{order_id}")(place_order)
    if capture:
        settings = settings or bench_settings()
        app.add_middleware(FailureCaptureMiddleware, settings=settings, sink=sink)
    return app


def count_collections(path: str) -> None:
    """Count collections per (thread, generation) with their time; SIGUSR1 writes the totals to ``path``."""
    counts: dict[str, dict[str, float]] = {}
    started: dict[int, int] = {}

    def callback(phase: str, info: dict[str, Any]) -> None:
        ident = threading.get_ident()
        if phase == "start":
            started[ident] = time.perf_counter_ns()
            return
        thread = "main" if threading.current_thread() is threading.main_thread() else "other"
        key = f"{thread} gen{info['generation']}"
        entry = counts.setdefault(key, {"collections": 0, "ns": 0})
        entry["collections"] += 1
        entry["ns"] += time.perf_counter_ns() - started.pop(ident, time.perf_counter_ns())

    def dump(signum: int, frame: Any) -> None:
        with open(f"{path}.tmp", "w") as f:
            json.dump({"collections": counts, "gc_count": gc.get_count()}, f)
        os.replace(f"{path}.tmp", path)

    gc.callbacks.append(callback)
    signal.signal(signal.SIGUSR1, dump)


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--app", choices=("items", "orders"), default="items")
    parser.add_argument("--capture", action="store_true", help="the middleware as a host adds it")
    parser.add_argument("--discard", action="store_true", help="capture, but into a sink that drops events")
    parser.add_argument("--passthrough", action="store_true", help="a middleware that records nothing")
    parser.add_argument("--gc-log", help="count collections; SIGUSR1 writes them to this file (diagnosis)")
    args = parser.parse_args()
    if args.gc_log:
        count_collections(args.gc_log)
    build: Any = build_orders_app if args.app == "orders" else build_app
    if args.passthrough:
        app = build(False)
        app.add_middleware(PassThrough)
    else:
        sink = DiscardingSink() if args.discard else None
        app = build(args.capture or sink is not None, sink=sink, settings=bench_settings())
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="error", access_log=False)


if __name__ == "__main__":
    main()

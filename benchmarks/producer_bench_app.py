"""The host app the producer benchmarks load: one Starlette route that answers 401.

``python -m benchmarks.producer_bench_app --port 8101 [--capture | --in-process]``
serves it under uvicorn, with or without the capture middleware (events go
to the local broker on a benchmark topic). ``--capture`` is the one line a
host adds, so events go through the relay process unless
``FAILSTREAM_PRODUCER_RELAY=false``; ``--in-process`` gives the middleware a
KafkaSink of its own, in the host process.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from failstream.producer.asgi import FailureCaptureMiddleware
from failstream.producer.sink import KafkaSink
from failstream.settings import Settings

TOPIC = "bench-failed-requests"


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


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--capture", action="store_true", help="the middleware as a host adds it (relay)")
    parser.add_argument(
        "--in-process", action="store_true", help="the middleware with a KafkaSink in this process"
    )
    parser.add_argument("--discard", action="store_true", help="capture, but into a sink that drops events")
    parser.add_argument("--passthrough", action="store_true", help="a middleware that records nothing")
    args = parser.parse_args()
    if args.passthrough:
        app = build_app(False)
        app.add_middleware(PassThrough)
        uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="error", access_log=False)
        return
    settings = bench_settings()
    sink: KafkaSink | DiscardingSink | None = None
    if args.discard:
        sink = DiscardingSink()
    elif args.in_process:
        sink = KafkaSink(settings)
    uvicorn.run(
        build_app(args.capture or sink is not None, sink=sink, settings=settings),
        host="127.0.0.1",
        port=args.port,
        log_level="error",
        access_log=False,
    )


if __name__ == "__main__":
    main()

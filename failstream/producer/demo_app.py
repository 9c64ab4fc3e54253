"""The demo host service: ``POST /api/submit`` needs ``Authorization: Bearer <token>``.

It captures failures the way the README tells a user to: one
``add_middleware`` line, so the capture queue, its thread and its exit
flush are the ones every host gets. A test may pass its own ``sink`` instead.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Header, HTTPException, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from failstream.kafka_config import KafkaCredentialsError
from failstream.producer.asgi import FailureCaptureMiddleware
from failstream.producer.capture_queue import flush_capture
from failstream.producer.classify import set_failure_reason
from failstream.producer.sink import KafkaSink
from failstream.settings import Settings


def create_demo_app(settings: Settings, sink: KafkaSink | None = None) -> FastAPI:
    tokens = [t.get_secret_value().encode() for t in settings.demo_tokens]

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # the shared sink (README install) is started by the first event and flushed at exit;
        # only a sink handed in by the caller is this app's to start and close
        if sink is not None:
            try:
                sink.start()  # surface certificate problems at start-up, in one line
            except KafkaCredentialsError:
                pass  # already logged by the sink; the service answers, events wait in the spool
        yield
        if sink is not None:
            flush_capture(5)  # what the capture thread still holds goes to the sink before it closes
            sink.close(timeout_s=10)

    app = FastAPI(title="Failstream demo service", lifespan=lifespan)

    @app.post("/api/submit")
    async def submit(request: Request, authorization: str | None = Header(default=None)) -> dict[str, str]:
        if not authorization:
            set_failure_reason(request.state, "missing_token")
            raise HTTPException(401, "missing access token", headers={"WWW-Authenticate": "Bearer"})
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not any(hmac.compare_digest(token.encode(), t) for t in tokens):
            set_failure_reason(request.state, "invalid_token")
            raise HTTPException(401, "invalid access token", headers={"WWW-Authenticate": "Bearer"})
        return {"status": "accepted"}

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    if sink is None:
        app.add_middleware(FailureCaptureMiddleware, settings=settings)  # the README's one line
    else:
        app.add_middleware(FailureCaptureMiddleware, settings=settings, sink=sink)
    return app

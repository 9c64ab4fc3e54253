"""The Failstream API: REST stats under ``/api/v1``, health, metrics (and the live feed).

``create_app(settings)`` is the one entry point. The lifespan opens one PyMongo
async client and keeps the database handle in ``app.state.db``; routers live
in ``api/routes/`` and read ``app.state`` only, so this file stays a wiring list.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import FastAPI
from pymongo import AsyncMongoClient

from failstream.api import dashboard, errors, live, log_redaction, reports
from failstream.api.dependency_watch import watching
from failstream.api.metrics import ApiMetrics, RequestMetricsMiddleware
from failstream.api.openapi_doc import DESCRIPTION, TAGS
from failstream.api.read_model import ReadModel
from failstream.api.routes import alerts, decisions, emails, failures, health, ips, silences, stats
from failstream.settings import ApiSettings


def create_app(settings: ApiSettings) -> FastAPI:
    """A FastAPI app serving ``settings``; MongoDB is connected in the lifespan."""
    ZoneInfo(settings.report_timezone)  # an unknown zone fails here, once, not on every /emails
    log_redaction.install()  # ?api_key= of the live stream never reaches the access log

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            settings.mongo_uri.get_secret_value(), serverSelectionTimeoutMS=settings.api_mongo_timeout_ms
        )
        app.state.settings = settings
        app.state.db = client[settings.mongo_db]
        app.state.read_model = ReadModel(app.state.db, settings)
        async with watching(app.state.db, settings), live.running_feed(app, settings):
            yield
        await client.close()

    app = FastAPI(
        title="Failstream API",
        version="1",
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
    )
    app.state.settings = settings
    errors.install(app)
    api_metrics = ApiMetrics()
    app.state.api_metrics = api_metrics
    app.add_middleware(RequestMetricsMiddleware, metrics=api_metrics)

    app.include_router(health.router)
    for module in (stats, ips, failures, alerts, emails, silences, decisions):
        app.include_router(module.router, prefix="/api/v1")
    app.include_router(reports.router)  # /api/v1/reports/schedules
    app.include_router(live.router)  # WS /api/v1/live, SSE /api/v1/live/stream
    dashboard.install(app)  # / and /static/
    return app

"""Unauthenticated operational endpoints: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from failstream.api import readiness
from failstream.api.models import Health, Readiness
from failstream.api.routes.common import db_of

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health, summary="Liveness: the process serves requests")
async def healthz() -> Health:
    return Health()


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Readiness: MongoDB and Kafka reachable",
    responses={503: {"model": Readiness, "description": "a dependency is unreachable"}},
)
async def readyz(request: Request) -> JSONResponse:
    """Both probes, answered from a one-second cache shared by every caller."""
    state = request.app.state
    if not hasattr(state, "readiness"):
        db = db_of(request)
        state.readiness = readiness.ReadinessCheck(
            {"mongodb": lambda: readiness.mongodb(db), "kafka": readiness.KafkaProbe(state.settings)},
            on_probe=state.api_metrics.readiness_probes.inc,
        )
    checks = await state.readiness.checks()
    ready = all(v == "ok" for v in checks.values())
    body = Readiness(status="ready" if ready else "not_ready", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


@router.get(
    "/metrics",
    summary="Prometheus metrics (404 when api_metrics_enabled is false)",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}, 404: {"description": "metrics disabled"}},
)
async def metrics(request: Request) -> Response:
    if not request.app.state.settings.api_metrics_enabled:
        return JSONResponse({"detail": "metrics are disabled (api_metrics_enabled)"}, status_code=404)
    # this app's request metrics, then the process-wide registry (process, GC, and
    # anything other API modules register globally)
    body = generate_latest(request.app.state.api_metrics.registry) + generate_latest(REGISTRY)
    return Response(body, media_type=CONTENT_TYPE_LATEST)

"""``/stats``: the window summary and the time series, from the written counters."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from failstream.api.auth import require_read
from failstream.api.models import StatsSummary, Timeseries
from failstream.api.params import (
    MAX_POINTS,
    FromParam,
    StepParam,
    TimeParam,
    WindowParam,
    duration_s,
    raise_param_error,
)
from failstream.api.read_model import ReadModel
from failstream.api.routes.common import READ_ERRORS
from failstream.events import now_ms

router = APIRouter(
    prefix="/stats", tags=["stats"], dependencies=[Depends(require_read)], responses=READ_ERRORS
)


def _model(request: Request) -> ReadModel:
    model: ReadModel = request.app.state.read_model
    return model


@router.get("/summary", response_model=StatsSummary, summary="Totals over a window ending now")
async def summary(request: Request, window: WindowParam = "1h") -> StatsSummary:
    """Totals by reason, status and service, and the top IPs, over ``window``.

    Read from per-minute counters (the window starts at a whole UTC minute) and
    shared by concurrent callers for ``api_stats_cache_s`` seconds.
    """
    return await _model(request).summary(window, duration_s(window, "window"))


@router.get("/timeseries", response_model=Timeseries, summary="Failures per step between two times")
async def timeseries(
    request: Request,
    from_: FromParam = None,
    to: TimeParam = None,
    step: StepParam = "1m",
) -> Timeseries:
    """One point per ``step`` from ``from`` (default: ``to`` - 1h) to ``to`` (default: now), at most 1,440."""
    step_s = duration_s(step, "step")
    end = to if to is not None else now_ms()
    start = from_ if from_ is not None else end - 3600_000
    if start >= end:
        raise_param_error("from", f"from ({start}) must be before to ({end})")
    if (end - start) / (step_s * 1000) > MAX_POINTS:
        raise_param_error(
            "step", f"from..to at step {step} is more than {MAX_POINTS} points: use a bigger step"
        )
    return await _model(request).timeseries(from_, to, step_s)

"""What every router shares: the documented error responses and request helpers."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from pymongo.asynchronous.database import AsyncDatabase

from failstream.api.models import ErrorOut

#: documented on every protected route, so clients (and schemathesis) know the error shapes
READ_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "no or unknown API key (X-API-Key)"},
    503: {"model": ErrorOut, "description": "MongoDB unavailable"},
}
ADMIN_ERRORS: dict[int | str, dict[str, Any]] = {
    **READ_ERRORS,
    403: {"model": ErrorOut, "description": "a read key on an admin route"},
}


def db_of(request: Request) -> AsyncDatabase[dict[str, Any]]:
    db: AsyncDatabase[dict[str, Any]] = request.app.state.db
    return db


def equal_filters(**fields: object) -> dict[str, Any]:
    """A MongoDB query matching every given filter exactly; a filter left out (None) matches all."""
    return {name: value for name, value in fields.items() if value is not None}

"""The failure reasons of the wire contract, as plain strings.

``events.FailureReason`` is the same list as a type for the pydantic models;
this copy lets the middlewares classify without importing pydantic (a unit
test keeps the two equal).
"""

from __future__ import annotations

FAILURE_REASONS: tuple[str, ...] = (
    "missing_token",
    "invalid_token",
    "expired_token",
    "forbidden",
    "rate_limited",
    "validation_error",
    "not_found",
    "server_error",
    "other",
    "blocked",
)

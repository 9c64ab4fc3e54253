"""API-key scopes: ``require_read`` for every read, ``require_admin`` for silences.

Keys come from the settings (``api_read_keys``, ``api_admin_keys``); an admin key
also reads. Keys are compared with ``hmac.compare_digest`` against every
configured key (no early exit), so the response time does not tell an attacker
how much of a guess was right or which key it was close to.

Use as ``dependencies=[Depends(require_read)]`` on a route or router.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Literal

from fastapi import HTTPException, Request, Security
from fastapi.security import APIKeyHeader

from failstream.settings import ApiSettings

Scope = Literal["read", "admin"]

#: the header and its OpenAPI security scheme (``auto_error=False``: we answer 401 ourselves)
api_key_header = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="read key (api_read_keys) for reads; admin key (api_admin_keys) for silences",
)


def key_id(key: str) -> str:
    """A non-secret name for a key: the first 12 hex digits of its SHA-256.

    Stored with what the key did (a silence's ``created_by_key``), so an
    operator can tell which key acted without the key itself ever being
    written down: ``printf %s "$KEY" | sha256sum | cut -c1-12``.
    """
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:12]


def _matches(key: bytes, candidates: tuple[bytes, ...]) -> bool:
    found = False
    for candidate in candidates:  # no short-circuit: every key is compared every time
        found |= hmac.compare_digest(key, candidate)
    return found


def scope_of(settings: ApiSettings, key: str | None) -> Scope | None:
    """The scope ``key`` grants, or None for a missing or unknown key."""
    if not key:
        return None
    raw = key.encode("utf-8", "surrogateescape")
    admin = tuple(k.get_secret_value().encode() for k in settings.api_admin_keys if k.get_secret_value())
    read = tuple(k.get_secret_value().encode() for k in settings.api_read_keys if k.get_secret_value())
    is_admin = _matches(raw, admin)
    is_read = _matches(raw, read)
    if is_admin:
        return "admin"
    return "read" if is_read else None


def _scope(request: Request, key: str | None) -> Scope:
    settings: ApiSettings = request.app.state.settings
    if not key:
        raise HTTPException(
            401, "missing API key: send it in the X-API-Key header", {"WWW-Authenticate": "APIKey"}
        )
    scope = scope_of(settings, key)
    if scope is None:
        raise HTTPException(401, "invalid API key (X-API-Key)", {"WWW-Authenticate": "APIKey"})
    return scope


async def require_read(request: Request, key: str | None = Security(api_key_header)) -> Scope:
    """Any valid key (read or admin); 401 without one."""
    return _scope(request, key)


async def require_admin(request: Request, key: str | None = Security(api_key_header)) -> Scope:
    """An admin key; 401 without a valid key, 403 with a read-only key."""
    scope = _scope(request, key)
    if scope != "admin":
        raise HTTPException(403, "this endpoint needs an admin API key (api_admin_keys)")
    return scope

"""The OpenAPI description shown at /docs: how to authenticate, page and read times."""

from __future__ import annotations

from typing import Any

DESCRIPTION = """
Failed requests, alerts and the email log of Failstream.

**Auth**: send an API key in the `X-API-Key` header. A *read* key
(`FAILSTREAM_API_READ_KEYS`) reads everything under `/api/v1` except
silences; `/silences` (create, list, delete) needs an *admin* key
(`FAILSTREAM_API_ADMIN_KEYS`). No key or an unknown key: 401; a read key on
silences: 403. `/healthz`, `/readyz` and `/metrics` are open.

**Times** are integers: milliseconds since the epoch, UTC.

**Pages**: lists are newest first, ordered by time then id. Pass a page's
`next_cursor` as `?cursor=` to get the next one; `null` means the last page.
Writes that arrive meanwhile never make a later page skip or repeat an item.
`limit` is 1..`FAILSTREAM_API_MAX_PAGE_LIMIT` (500 by default).

**Stats** are read from per-minute counters and shared by concurrent callers
for `FAILSTREAM_API_STATS_CACHE_S` seconds (`computed_at` says when).

**Errors**: bad input is a 422 whose messages start with the parameter's name;
MongoDB unavailable is a 503.
"""

TAGS: list[dict[str, Any]] = [
    {"name": "stats", "description": "Totals and time series over a window"},
    {"name": "ips", "description": "Everything about one client IP"},
    {"name": "failures", "description": "Raw failed requests"},
    {"name": "alerts", "description": "Alerts and their delivery status"},
    {"name": "emails", "description": "The email log"},
    {"name": "silences", "description": "Mute alerts (admin key)"},
    {"name": "operations", "description": "Health, readiness, metrics (no key)"},
]

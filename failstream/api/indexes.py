"""Indexes for the API's list orders (time, then id), created at start-up.

The stream app and alerting create theirs; these add the (time, _id) orders
the cursor pages sort by, and the lookup of a subject's alerts. A database
that is down at start-up is logged, not fatal: /readyz reports it, requests
answer 503 until it is back, and ``api.dependency_watch`` creates the
indexes once it answers.
"""

from __future__ import annotations

import logging
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

log = logging.getLogger("failstream.api")

_ORDERS = {"failures": "ts", "alerts": "created_at", "emails": "created_at", "silences": "created_at"}
#: Lookups by one field, newest first: a subject's alerts (IP detail, the top IPs' latest alert).
#: On FerretDB's PostgreSQL backend the leading field's equality filter is what gets indexed.
_LOOKUPS = {"alerts": [("subject", 1), ("created_at", -1)]}


async def ensure_api_indexes(db: AsyncDatabase[dict[str, Any]]) -> bool:
    """Create every index; False if one could not be (to be tried again)."""
    created = True
    wanted = [(c, [(field, 1), ("_id", 1)]) for c, field in _ORDERS.items()] + list(_LOOKUPS.items())
    for collection, keys in wanted:
        try:
            await db[collection].create_index(keys)
        except PyMongoError as exc:
            log.warning("index %s on %s not created: %s", keys, collection, exc)
            created = False
    return created

"""MongoDB handles and the indexes alerting queries need, created at start-up."""

from __future__ import annotations

import logging
from typing import Any

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from failstream.settings import AlertingSettings

log = logging.getLogger("failstream.alerting")

Database = AsyncDatabase[dict[str, Any]]

_INDEXES: dict[str, list[list[tuple[str, int]]]] = {
    "alerts": [
        [("status", ASCENDING), ("suppressed_by", ASCENDING)],
        [("created_at", DESCENDING)],
        [("ts", ASCENDING)],  # report figures: alerts of a period
        # inhibition: is the IP's episode firing; which inhibited route alerts still wait to be named
        [("rule", ASCENDING), ("subject", ASCENDING), ("episode_start", DESCENDING)],
        [("suppressed_by", ASCENDING), ("inhibited_subject", ASCENDING)],
    ],
    "emails": [[("created_at", DESCENDING)], [("status", ASCENDING)]],
    "silences": [[("until", ASCENDING)]],
    "dead_letters": [[("email_id", ASCENDING)]],
    # a resolved notice looks up the receiver's delivery of its episode's firing
    "receiver_deliveries": [[("subject", ASCENDING), ("episode_start", ASCENDING)]],
    # decisions: the active ones (export, expiry), and the change log's retention sweep
    "decisions": [[("active", ASCENDING), ("until", ASCENDING)]],
    "decision_changes": [[("at", ASCENDING)]],
    # each relay reads its own pending email events in order
    "email_event_outbox": [[("owner", ASCENDING), ("_id", ASCENDING)]],
}


#: An operation gives up on finding a server after this long, so an outage is seen (logged, /readyz)
#: within seconds; the caller retries it (``alerting.dependencies.Held``) for as long as it lasts.
SERVER_SELECTION_TIMEOUT_MS = 5000
CONNECT_TIMEOUT_MS = 5000
#: A server that stops answering mid-operation, rather than closing the connection, counts as away.
SOCKET_TIMEOUT_MS = 30000


def connect(settings: AlertingSettings) -> AsyncMongoClient[dict[str, Any]]:
    return AsyncMongoClient(
        settings.mongo_uri.get_secret_value(),
        tz_aware=True,
        serverSelectionTimeoutMS=SERVER_SELECTION_TIMEOUT_MS,
        connectTimeoutMS=CONNECT_TIMEOUT_MS,
        socketTimeoutMS=SOCKET_TIMEOUT_MS,
    )


async def ensure_indexes(db: Database) -> None:
    """Default index names, so another part creating the same index is a no-op, not a conflict."""
    for collection, indexes in _INDEXES.items():
        for keys in indexes:
            try:
                await db[collection].create_index(keys)
            except OperationFailure as exc:
                log.warning("index %s on %s not created: %s", keys, collection, exc)

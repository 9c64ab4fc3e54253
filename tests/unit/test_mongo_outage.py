"""Which MongoDB errors are waited out as an outage and which propagate as bugs."""

from __future__ import annotations

import pytest
from pymongo.errors import AutoReconnect, DuplicateKeyError, OperationFailure, ServerSelectionTimeoutError

from failstream.mongo_outage import MONGO_ERRORS, is_mongo_outage


@pytest.mark.parametrize(
    "error",
    [
        AutoReconnect("connection closed"),
        ServerSelectionTimeoutError("127.0.0.1:27017: connection refused"),
        OperationFailure("context canceled", code=1),  # FerretDB's backend pool closed on shutdown
        OperationFailure("The server is in quiesce mode and will shut down", code=91),
        OperationFailure("interrupted at shutdown", code=11600),
        OperationFailure("no primary", code=10107),
        OperationFailure("retry me", code=999, details={"errorLabels": ["RetryableWriteError"]}),
        RuntimeError("cannot wait on un-acquired lock"),  # pymongo's server selection, mid-outage
    ],
)
def test_connection_losses_and_shutdown_replies_are_outages(error: Exception) -> None:
    assert isinstance(error, MONGO_ERRORS)
    assert is_mongo_outage(error)


@pytest.mark.parametrize(
    "error",
    [
        DuplicateKeyError("E11000 duplicate key", code=11000),
        OperationFailure("unknown operator: $bogus", code=2),
        OperationFailure("not authorized", code=13),
        ValueError("a bug"),
        RuntimeError("Event loop is closed"),
    ],
)
def test_query_errors_and_bugs_are_not_outages(error: Exception) -> None:
    assert not is_mongo_outage(error)

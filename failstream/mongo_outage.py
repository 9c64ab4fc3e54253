"""Which MongoDB errors mean "the server is away", for every process that waits an outage out.

A refused or dropped connection is a ``ConnectionFailure``. A server that is
shutting down, or whose own storage is away, answers with an error reply
instead: FerretDB turns a failure of its SQLite or PostgreSQL backend (a
closed pool on shutdown, a restarting PostgreSQL) into ``InternalError`` (1),
and MongoDB sends ``ShutdownInProgress`` and its kin. Those are waited out
like a refused connection; any other server error is a bug in the query and
propagates.

One client-side error is an outage too: pymongo's async server selection,
waiting for a server that does not come, can fail with ``RuntimeError:
cannot wait on un-acquired lock`` (its vendored asyncio condition, after a
timed-out wait; seen with pymongo 4.20 when FerretDB stopped). The call
fails but the client does not: the same operation, retried, selects again.
"""

from __future__ import annotations

from pymongo.errors import ConnectionFailure, OperationFailure

#: Catch these, then ask ``is_mongo_outage``: an ``OperationFailure`` is an outage only by its
#: code, a ``RuntimeError`` only as pymongo's lost condition lock.
MONGO_ERRORS: tuple[type[BaseException], ...] = (ConnectionFailure, OperationFailure, RuntimeError)

#: What pymongo's server selection raises when its condition's lock was lost in a timed-out wait.
LOST_SELECTION_LOCK = "cannot wait on un-acquired lock"

#: Server replies that say "not now" rather than "not this query".
OUTAGE_CODES = frozenset(
    {
        1,  # InternalError: FerretDB's backend failed (pool closed, PostgreSQL away)
        6,  # HostUnreachable
        7,  # HostNotFound
        89,  # NetworkTimeout
        91,  # ShutdownInProgress
        189,  # PrimarySteppedDown
        262,  # ExceededTimeLimit
        9001,  # SocketException
        10107,  # NotWritablePrimary
        11600,  # InterruptedAtShutdown
        11602,  # InterruptedDueToReplStateChange
        13435,  # NotPrimaryNoSecondaryOk
        13436,  # NotPrimaryOrSecondary
    }
)


def is_mongo_outage(exc: BaseException) -> bool:
    """True for an error that waiting (and retrying the same, idempotent operation) can cure."""
    if isinstance(exc, ConnectionFailure):
        return True
    if isinstance(exc, OperationFailure):
        return exc.code in OUTAGE_CODES or exc.has_error_label("RetryableWriteError")
    if isinstance(exc, RuntimeError):
        return str(exc) == LOST_SELECTION_LOCK
    return False

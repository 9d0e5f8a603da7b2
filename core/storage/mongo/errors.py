"""Which driver errors mean an outage: `StorageDown` (503 and `Retry-After`), not a bug."""

from __future__ import annotations

import logging

from pymongo.errors import (
    ClientBulkWriteException,
    ConnectionFailure,
    OperationFailure,
    PyMongoError,
    WriteConcernError,
)

from core.storage.port import StorageDown

# Server answers that mean "not now" rather than "never": time limits, write concern not
# satisfied in time, a node shutting down or stepping down.
_UNAVAILABLE_CODES = frozenset({50, 64, 91, 189, 262, 10107, 11600, 11602, 13435, 13436})
_UNAVAILABLE_LABELS = (
    "TransientTransactionError",
    "UnknownTransactionCommitResult",
    "RetryableWriteError",
)

# Named as when the adapter was one module, so that a log query on the name still finds it.
log = logging.getLogger("core.storage.mongo")


def is_unavailable(exc: BaseException) -> bool:
    """Whether a driver error means the database cannot answer now (503), not a bug."""
    if isinstance(exc, ConnectionFailure | WriteConcernError):
        return True  # unreachable, no primary, network timeout; write concern not met
    if isinstance(exc, PyMongoError):
        if exc.timeout:  # any client-side or server-side time limit
            return True
        if any(exc.has_error_label(label) for label in _UNAVAILABLE_LABELS):
            return True
    if isinstance(exc, OperationFailure) and exc.code in _UNAVAILABLE_CODES:
        return True
    return isinstance(exc, ClientBulkWriteException) and bool(exc.write_concern_errors)


def raise_if_unavailable(exc: PyMongoError) -> None:
    """StorageDown for an outage or a timeout; the caller re-raises anything else (a bug)."""
    if is_unavailable(exc):
        code = getattr(exc, "code", None)
        log.warning(
            "storage unavailable", extra={"fields": {"error": type(exc).__name__, "code": code}}
        )
        raise StorageDown(f"{type(exc).__name__} {code}") from exc

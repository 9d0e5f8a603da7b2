"""What the stand-in shares with mongod's replies: size limits, the version it claims, error
codes and their names, and how an exception becomes an ``{ok: 0}`` reply."""

from __future__ import annotations

from typing import Any

import bson
from pymongo.errors import CollectionInvalid, OperationFailure

Doc = dict[str, Any]

MAX_BSON_SIZE = 16 * 1024 * 1024
MAX_MESSAGE_SIZE = 48_000_000
MAX_WRITE_BATCH = 100_000
WIRE_VERSION = 25
SERVER_VERSION = "8.0.0"
LOG_LIMIT = 100_000
TRANSIENT = ("TransientTransactionError",)
CODE_NAMES = {
    1: "InternalError",
    2: "BadValue",
    9: "FailedToParse",
    26: "NamespaceNotFound",
    27: "IndexNotFound",
    43: "CursorNotFound",
    48: "NamespaceExists",
    50: "MaxTimeMSExpired",
    59: "CommandNotFound",
    61: "ShardKeyNotFound",
    64: "WriteConcernFailed",
    67: "CannotCreateIndex",
    72: "InvalidOptions",
    85: "IndexOptionsConflict",
    112: "WriteConflict",
    225: "TransactionTooOld",
    238: "NotImplemented",
    251: "NoSuchTransaction",
    263: "OperationNotSupportedInTransaction",
    256: "TransactionCommitted",
    11000: "DuplicateKey",
}


class CommandError(Exception):
    """A command failure reported to the client as ``{ok: 0, code, errmsg}``."""

    def __init__(self, code: int, errmsg: str, labels: tuple[str, ...] = ()) -> None:
        super().__init__(errmsg)
        self.code, self.errmsg, self.labels = code, errmsg, labels


def error_info(exc: BaseException) -> tuple[int, str]:
    """Map an exception raised while executing a command to (code, message)."""
    if isinstance(exc, CommandError):
        return exc.code, exc.errmsg
    if isinstance(exc, OperationFailure):  # mongomock raises pymongo's error classes
        message = str(exc.args[0]) if exc.args else str(exc)
        if "already exists with different options" in message:
            return 85, message
        return (27 if "index not found" in message else int(exc.code or 2)), message
    if isinstance(exc, CollectionInvalid):
        return 48, str(exc)
    if isinstance(exc, NotImplementedError):
        return 238, f"not supported by the mongo stand-in: {exc}"
    if isinstance(exc, (ValueError, TypeError, KeyError, bson.errors.InvalidDocument)):
        return 2, f"{type(exc).__name__}: {exc}"
    return 1, f"{type(exc).__name__}: {exc}"


def error_reply(exc: BaseException) -> Doc:
    code, message = error_info(exc)
    reply: Doc = {"ok": 0.0, "errmsg": message, "code": code}
    reply["codeName"] = CODE_NAMES.get(code, "UnknownError")
    if isinstance(exc, CommandError) and exc.labels:
        reply["errorLabels"] = list(exc.labels)
    return reply

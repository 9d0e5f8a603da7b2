"""A MongoDB wire-protocol stand-in for tests, backed by ``mongomock``.

What it is: a small TCP server that speaks enough of the MongoDB wire protocol (OP_MSG, plus
OP_QUERY answered with OP_REPLY) for the real PyMongo driver -- ``pymongo.MongoClient`` and
``pymongo.AsyncMongoClient`` -- to talk to it exactly as it would to ``mongod``. Commands are
decoded with ``bson`` and executed one at a time (a lock serialises them) against one in-memory
``mongomock.MongoClient`` per server. It presents itself as the primary of a one-member replica
set (``setName: "rs0"``, wire version 21 = MongoDB 7.0), so the driver uses sessions, retryable
writes and multi-document transactions.

Transactions are emulated with an undo log per logical session: writes inside a transaction are
applied immediately and recorded (inserted ``_id``s, prior versions of updated or deleted
documents); ``abortTransaction``, a failed statement, ``endSessions`` or a newer transaction on
the same session replays the log backwards, ``commitTransaction`` drops it. As on mongod:

* a transaction that writes a document another open transaction has written, inserts an
  ``_id`` another has inserted, or clashes on a unique index with another's uncommitted
  document gets ``WriteConflict`` (code 112, label ``TransientTransactionError``), not E11000,
  so ``with_transaction`` retries;
* reads from other sessions do not see uncommitted writes: they see the documents as they
  were before the open transactions touched them (read committed, not a snapshot).

For tests to assert on (``Backend.log``): every command received, as decoded, with its
database under ``$db``; ``Backend.counts`` counts them by name. ``configureFailPoint`` with
``failCommand`` (``errorCode``, ``errorLabels``, ``writeConcernError``, ``blockConnection`` +
``blockTimeMS``; mode ``alwaysOn``, ``{times: n}`` or ``off``) injects failures as mongod's
test failpoint does. Client-level ``bulkWrite`` (MongoDB 8.0) is answered.

``MongoStandin(sharded=True)`` answers as a mongos in front of a sharded cluster:
``shardCollection`` records a key; a unique index that does not start with the shard key is
refused (code 67), and so is a sharded collection with one; an ``updateOne`` or upsert whose
filter lacks the shard key (code 72 / 61); and a write inside a transaction to a collection
that does not exist yet (code 263).

What it does NOT do:

* no snapshot isolation inside a transaction, and a non-transactional write to a document held
  by an open transaction is neither blocked nor protected (if that transaction aborts, it
  restores its own prior version over the write);
* no TTL expiry: ``expireAfterSeconds`` is accepted and reported by ``listIndexes`` but nothing
  ever expires (mongomock's own immediate expiry is deliberately bypassed);
* no authentication, TLS, compression, replication, change streams, ``explain``, collations,
  geo search, validators or capped collections (text indexes and ``$text`` in ``find`` are
  emulated, with their own limits: :mod:`tests.mongo_standin.text`); query, update and
  aggregation semantics are mongomock's, which cover the common operators but not all of them
  (a ``$group`` over no documents answers no group, as on mongod, not mongomock's null group);
* a rolled-back delete re-appends the document, so natural order may change after an abort.

Datetimes are kept as naive UTC internally (as mongod stores them, and as mongomock compares
them); clients get tz-aware values back when they connect with ``tz_aware=True``.

The real server is used whenever ``KHAIBAO_TEST_MONGODB_URL`` is set; this stand-in only
replaces it when that variable is absent (see :func:`tests.mongo_standin.mongodb_test_url`).
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import itertools
import random
import re
import socket
import socketserver
import struct
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, ClassVar, cast

import bson
import bson.regex
import mongomock
import mongomock.collection
from bson.codec_options import CodecOptions
from bson.int64 import Int64
from mongomock import filtering
from pymongo.errors import CollectionInvalid, OperationFailure

from tests.mongo_standin.text import TextIndexSpec, find_text

Doc = dict[str, Any]
filter_applies = cast(Callable[[Doc, Doc], bool], filtering.filter_applies)

OP_REPLY, OP_QUERY, OP_MSG = 1, 2004, 2013
_HEADER = struct.Struct("<iiii")
_INT32 = struct.Struct("<i")
_CHECKSUM_PRESENT, _MORE_TO_COME = 1, 2
MAX_BSON_SIZE = 16 * 1024 * 1024
MAX_MESSAGE_SIZE = 48_000_000
MAX_WRITE_BATCH = 100_000
DEFAULT_BATCH_SIZE = 101
WIRE_VERSION = 25
SERVER_VERSION = "8.0.0"
LOG_LIMIT = 100_000
_BATCH_BYTES = MAX_BSON_SIZE - 1024 * 1024
# Requests decode to naive UTC datetimes: what mongomock stores and compares.
_CODEC: CodecOptions[Doc] = CodecOptions(document_class=dict, tz_aware=False)
_TRANSIENT = ("TransientTransactionError",)
_CODE_NAMES = {
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


def _error_info(exc: BaseException) -> tuple[int, str]:
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


def _error_reply(exc: BaseException) -> Doc:
    code, message = _error_info(exc)
    reply: Doc = {"ok": 0.0, "errmsg": message, "code": code}
    reply["codeName"] = _CODE_NAMES.get(code, "UnknownError")
    if isinstance(exc, CommandError) and exc.labels:
        reply["errorLabels"] = list(exc.labels)
    return reply


# Handshake and monitoring: not what a test of the adapter's traffic wants to count.
_UNLOGGED = frozenset(
    {"hello", "ismaster", "ping", "buildinfo", "getparameter", "endsessions", "standincounts"}
)

_scan = cast(Callable[[Any, Any], Any], mongomock.collection.Collection._iter_documents)


def _iter_documents(coll: Any, spec: Any) -> Any:
    """mongomock scans a whole collection for every query (every update statement is then
    O(n)); a query on one plain ``_id`` value looks the document up instead. Installed on each
    mongomock collection the backend touches; it must yield the stored objects themselves."""
    doc_id = spec.get("_id") if isinstance(spec, dict) else None
    if doc_id is None or isinstance(doc_id, (dict, list, bool, re.Pattern, bson.regex.Regex)):
        return _scan(coll, spec)
    try:
        doc = coll._store[doc_id]
    except KeyError:
        return iter(())
    except TypeError:  # an unhashable _id value: let mongomock compare it
        return _scan(coll, spec)
    return iter([doc] if filter_applies(spec, doc) else [])


def _sort_spec(sort: Any) -> list[tuple[str, Any]] | None:
    return list(sort.items()) if sort else None


def _apply_update(
    coll: Any, query: Doc, update: Any, *, multi: bool, upsert: bool, array_filters: Any = None
) -> Any:
    """Run one update statement through mongomock; returns a pymongo ``UpdateResult``."""
    if not (isinstance(update, list) or any(str(k).startswith("$") for k in update)):
        if multi:
            raise CommandError(9, "multi update is not supported for replacement-style update")
        return coll.replace_one(query, update, upsert=upsert)
    extra: Doc = {"array_filters": array_filters} if array_filters else {}
    method = coll.update_many if multi else coll.update_one
    return method(query, update, upsert=upsert, **extra)


@dataclass
class _Txn:
    """One multi-document transaction of one logical session."""

    number: int
    state: str = "active"  # "active" | "committed" | "aborted"
    # ("remove", db, collection, _id) or ("restore", db, collection, prior document)
    undo: list[tuple[str, str, str, Any]] = field(default_factory=list)
    owned: set[tuple[str, str, bytes]] = field(default_factory=set)


@dataclass
class _Cursor:
    ns: str
    docs: list[Doc]
    pos: int = 0

    def take(self, limit: int | None) -> list[Doc]:
        """Next batch: at most ``limit`` documents (None: no count limit), under ~15 MiB."""
        batch: list[Doc] = []
        size = 0
        while self.pos < len(self.docs) and (limit is None or len(batch) < limit):
            size += len(bson.encode(self.docs[self.pos]))
            if batch and size > _BATCH_BYTES:
                break
            batch.append(self.docs[self.pos])
            self.pos += 1
        return batch

    @property
    def exhausted(self) -> bool:
        return self.pos >= len(self.docs)


@dataclass
class _Call:
    """One command invocation, as seen by a command handler."""

    db: str
    name: str
    cmd: Doc
    txn: _Txn | None
    conn_id: int

    @property
    def target(self) -> Any:
        """The value of the command's first field (usually the collection name)."""
        return self.cmd[self.name]

    @property
    def ns(self) -> str:
        return f"{self.db}.{self.target}"

    def opt(self, key: str, default: Any = None) -> Any:
        value = self.cmd.get(key)
        return default if value is None else value


class Backend:
    """Executes decoded commands against one in-memory mongomock client.

    Command ``foo`` is handled by method ``cmd_foo`` (lower-cased name).
    """

    _ALIASES: ClassVar[dict[str, str]] = {"ismaster": "hello"}

    def __init__(
        self, address: str = "127.0.0.1:27017", replica_set: str = "rs0", *, sharded: bool = False
    ) -> None:
        self.address = address
        self.replica_set = replica_set
        self.sharded = sharded
        self._client: Any = mongomock.MongoClient()
        self._lock = threading.RLock()
        self._cursors: dict[int, _Cursor] = {}
        self._txns: dict[bytes, _Txn] = {}
        self._owners: dict[tuple[str, str, bytes], _Txn] = {}
        self._ttl: dict[tuple[str, str], dict[str, Any]] = {}  # (db, coll) -> {index: seconds}
        self._text: dict[tuple[str, str], TextIndexSpec] = {}  # (db, coll) -> its text index
        self._shard_keys: dict[tuple[str, str], Doc] = {}
        self._failpoint: Doc | None = None
        self.log: deque[Doc] = deque(maxlen=LOG_LIMIT)
        self.counts: Counter[str] = Counter()

    def clear_log(self) -> None:
        with self._lock:
            self.log.clear()
            self.counts.clear()

    def shard_key(self, db: str, collection: str) -> Doc | None:
        return self._shard_keys.get((db, collection))

    @property
    def command_names(self) -> list[str]:
        """Names of the commands this backend answers (lower-cased)."""
        names = [n[4:] for n in dir(self) if n.startswith("cmd_")]
        return sorted(names + list(self._ALIASES))

    def run(self, db: str, cmd: Doc, conn_id: int = 0) -> Doc:
        """Execute one command and return its reply document (never raises)."""
        name = next(iter(cmd), "")
        handler: Callable[[_Call], Doc] | None = getattr(
            self, "cmd_" + self._ALIASES.get(name.lower(), name.lower()), None
        )
        failure = self._failure_for(name)
        if failure is not None and failure.get("blockConnection"):
            time.sleep(int(failure.get("blockTimeMS", 0)) / 1000)  # outside the lock
        with self._lock:
            if name.lower() not in _UNLOGGED:
                self.log.append({**cmd, "$db": db})
                self.counts[name] += 1
            txn: _Txn | None = None
            try:
                if handler is None:
                    raise CommandError(59, f"no such command: '{name}'")
                if failure is not None and failure.get("errorCode") is not None:
                    labels = tuple(failure.get("errorLabels", ()))
                    raise CommandError(int(failure["errorCode"]), "failpoint failCommand", labels)
                txn = self._txn_for(name, cmd)
                reply = handler(_Call(db, name, cmd, txn, conn_id))
                if txn is not None and txn.state == "active" and reply.get("writeErrors"):
                    self._rollback(txn)  # mongod aborts a transaction on a failed statement
                if failure is not None and failure.get("writeConcernError"):
                    reply["writeConcernError"] = dict(failure["writeConcernError"])
                return reply
            except Exception as exc:  # every failure becomes an error reply
                if txn is not None and txn.state == "active" and not name.endswith("Transaction"):
                    self._rollback(txn)
                return _error_reply(exc)

    def _failure_for(self, name: str) -> Doc | None:
        """The failCommand failpoint's data, when it applies to this command now."""
        with self._lock:
            point = self._failpoint
            if point is None or name not in point["data"].get("failCommands", ()):
                return None
            if point["remaining"] is not None:
                point["remaining"] -= 1
                if point["remaining"] <= 0:
                    self._failpoint = None
            data: Doc = point["data"]
            return data

    def cmd_standincounts(self, call: _Call) -> Doc:
        """The command log's counts by name, for a process that cannot reach `Backend`
        (`load/mongo_commands.py`); `reset: true` starts counting afresh."""
        counts = dict(self.counts)
        if call.opt("reset"):
            self.log.clear()
            self.counts.clear()
        return {"counts": counts, "ok": 1.0}

    def cmd_configurefailpoint(self, call: _Call) -> Doc:
        if call.target != "failCommand":
            raise NotImplementedError(f"failpoint {call.target}")
        mode, data = call.cmd.get("mode"), call.opt("data", {})
        remaining = int(mode["times"]) if isinstance(mode, dict) else None
        self._failpoint = None if mode == "off" else {"remaining": remaining, "data": data}
        return {"ok": 1.0}

    def reset(self) -> None:
        """Drop every database, cursor and transaction."""
        with self._lock:
            for name in self._client.list_database_names():
                self._client.drop_database(name)
            self._cursors.clear()
            self._txns.clear()
            self._owners.clear()
            self._ttl.clear()
            self._text.clear()
            self._shard_keys.clear()
            self._failpoint = None
            self.log.clear()
            self.counts.clear()

    def _collection(self, db: str, name: Any) -> Any:
        if not isinstance(name, str) or not name:
            raise CommandError(2, f"collection name must be a non-empty string: {name!r}")
        coll = self._client[db][name]
        if "_iter_documents" not in vars(coll):
            coll._iter_documents = functools.partial(_iter_documents, coll)
        return coll

    def _coll(self, call: _Call) -> Any:
        return self._collection(call.db, call.target)

    def _exists(self, call: _Call) -> bool:
        return call.target in self._client[call.db].list_collection_names()

    # -- isolation ----------------------------------------------------------------------

    def _images(self, call: _Call) -> dict[bytes, Doc | None]:
        """Documents of this collection that other open transactions have written, as they
        were before the first of those writes (None: the document did not exist)."""
        images: dict[bytes, Doc | None] = {}
        for txn in self._txns.values():
            if txn is call.txn or txn.state != "active":
                continue
            for op, db, name, payload in txn.undo:
                if db != call.db or name != call.target:
                    continue
                doc_id = payload["_id"] if op == "restore" else payload
                images.setdefault(bson.encode({"_id": doc_id}), None if op == "remove" else payload)
        return images

    def _readable(self, call: _Call) -> Any:
        """The collection as this session may read it: without other sessions' uncommitted
        writes. Usually the collection itself; a copy while other transactions are open on
        it."""
        coll = self._coll(call)
        images = self._images(call)
        if not images:
            return coll
        docs: list[Doc] = []
        for doc in coll.find({}):
            key = bson.encode({"_id": doc["_id"]})
            if key in images:
                image = images.pop(key)
                if image is not None:
                    docs.append(image)
            else:
                docs.append(doc)
        docs.extend(image for image in images.values() if image is not None)
        view: Any = mongomock.MongoClient()[call.db][call.target]
        if docs:
            view.insert_many(docs)
        return view

    def _held_by_another(self, call: _Call, doc_id: Any) -> bool:
        owner = self._owners.get((call.db, call.target, bson.encode({"_id": doc_id})))
        return owner is not None and owner is not call.txn and owner.state == "active"

    def _check_uncommitted_clash(self, call: _Call, coll: Any, doc: Doc) -> None:
        """A transaction's insert that meets another open transaction's uncommitted document
        (same `_id`, or same values of a unique index) is a WriteConflict on mongod."""
        if call.txn is None:
            return
        for info in coll.index_information().values():
            fields = [name for name, _ in info["key"]]
            if not (info.get("unique") or fields == ["_id"]) or any(n not in doc for n in fields):
                continue
            for other in coll.find({name: doc[name] for name in fields}):
                if self._held_by_another(call, other["_id"]):
                    message = (
                        "WriteConflict error: this operation conflicted with another operation."
                    )
                    raise CommandError(112, message, _TRANSIENT)

    # -- sharding (sharded=True) --------------------------------------------------------

    def _check_targetable(self, call: _Call, query: Doc, *, multi: bool, upsert: bool) -> None:
        """On a sharded collection an updateOne, and every upsert, names the shard key."""
        key = self._shard_keys.get((call.db, call.target))
        if not self.sharded or key is None or multi:
            return
        missing = [name for name in key if name not in query or isinstance(query[name], dict)]
        if missing and upsert:
            raise CommandError(61, f"Failed to target upsert by query: no shard key {missing}")
        if missing:
            raise CommandError(
                72, f"A single update on a sharded collection must contain {missing}"
            )

    def _check_namespace_in_transaction(self, call: _Call) -> None:
        if self.sharded and call.txn is not None and not self._exists(call):
            message = f"Cannot create namespace {call.ns} in multi-document transaction."
            raise CommandError(263, message)

    # -- transactions -------------------------------------------------------------------

    def _txn_for(self, name: str, cmd: Doc) -> _Txn | None:
        lsid, number = cmd.get("lsid"), cmd.get("txnNumber")
        if not isinstance(lsid, dict) or number is None:
            return None
        key, number = bytes(lsid["id"]), int(number)
        current = self._txns.get(key)
        if cmd.get("autocommit") is not False:  # a retryable write, not a transaction
            if current is not None and current.state == "active" and current.number < number:
                self._rollback(current)
            return None
        if cmd.get("startTransaction"):
            if current is not None and current.number >= number:
                raise CommandError(225, f"txnNumber {number} is not newer than {current.number}")
            if current is not None and current.state == "active":
                self._rollback(current)
            self._txns[key] = _Txn(number)
            return self._txns[key]
        if current is None or current.number != number or current.state == "aborted":
            message = f"Transaction with {{ txnNumber: {number} }} has been aborted or is unknown"
            raise CommandError(251, message, _TRANSIENT)
        if current.state == "committed" and name != "commitTransaction":
            raise CommandError(256, f"Transaction {number} has been committed.")
        return current

    def _record(self, call: _Call, op: str, payloads: list[Any]) -> None:
        """Log undo steps for a transactional write and claim the documents it touches."""
        txn = call.txn
        if txn is None:
            return
        for payload in payloads:
            txn.undo.append((op, call.db, call.target, payload))
            doc_id = payload["_id"] if op == "restore" else payload
            key = (call.db, call.target, bson.encode({"_id": doc_id}))
            if self._owners.setdefault(key, txn) is not txn:
                message = "WriteConflict error: this operation conflicted with another operation."
                raise CommandError(112, message, _TRANSIENT)
            txn.owned.add(key)

    def _finish(self, txn: _Txn, state: str) -> None:
        for key in txn.owned:
            if self._owners.get(key) is txn:
                del self._owners[key]
        txn.owned.clear()
        txn.undo.clear()
        txn.state = state

    def _rollback(self, txn: _Txn) -> None:
        for op, db, coll_name, payload in reversed(txn.undo):
            coll = self._collection(db, coll_name)
            if op == "remove":
                coll.delete_one({"_id": payload})
            else:
                coll.replace_one({"_id": payload["_id"]}, payload, upsert=True)
        self._finish(txn, "aborted")

    def cmd_committransaction(self, call: _Call) -> Doc:
        if call.txn is None:
            raise CommandError(251, "commitTransaction must run inside a transaction")
        self._finish(call.txn, "committed")
        return {"ok": 1.0}

    def cmd_aborttransaction(self, call: _Call) -> Doc:
        if call.txn is None:
            raise CommandError(251, "abortTransaction must run inside a transaction")
        if call.txn.state == "committed":
            raise CommandError(256, "Transaction has been committed.")
        self._rollback(call.txn)
        return {"ok": 1.0}

    def cmd_endsessions(self, call: _Call) -> Doc:
        for lsid in call.target or []:
            txn = self._txns.pop(bytes(lsid["id"]), None)
            if txn is not None and txn.state == "active":
                self._rollback(txn)
        return {"ok": 1.0}

    # -- handshake and server info ------------------------------------------------------

    def cmd_hello(self, call: _Call) -> Doc:
        if self.sharded:  # a mongos
            mongos: Doc = {
                "isWritablePrimary" if call.name == "hello" else "ismaster": True,
                "msg": "isdbgrid",
                "maxBsonObjectSize": MAX_BSON_SIZE,
                "maxMessageSizeBytes": MAX_MESSAGE_SIZE,
                "maxWriteBatchSize": MAX_WRITE_BATCH,
                "localTime": datetime.datetime.now(datetime.UTC),
                "logicalSessionTimeoutMinutes": 30,
                "connectionId": call.conn_id,
                "minWireVersion": 0,
                "maxWireVersion": WIRE_VERSION,
                "readOnly": False,
            }
            return {**mongos, **({"helloOk": True} if call.cmd.get("helloOk") else {}), "ok": 1.0}
        reply: Doc = {
            "isWritablePrimary" if call.name == "hello" else "ismaster": True,
            "secondary": False,
            "setName": self.replica_set,
            "setVersion": 1,
            "hosts": [self.address],
            "me": self.address,
            "primary": self.address,
            "maxBsonObjectSize": MAX_BSON_SIZE,
            "maxMessageSizeBytes": MAX_MESSAGE_SIZE,
            "maxWriteBatchSize": MAX_WRITE_BATCH,
            "localTime": datetime.datetime.now(datetime.UTC),
            "logicalSessionTimeoutMinutes": 30,
            "connectionId": call.conn_id,
            "minWireVersion": 0,
            "maxWireVersion": WIRE_VERSION,
            "readOnly": False,
        }
        if call.cmd.get("helloOk"):
            reply["helloOk"] = True
        return {**reply, "ok": 1.0}

    def cmd_ping(self, call: _Call) -> Doc:
        return {"ok": 1.0}

    def cmd_buildinfo(self, call: _Call) -> Doc:
        version = [int(part) for part in SERVER_VERSION.split(".")] + [0]
        return {
            "version": SERVER_VERSION,
            "versionArray": version,
            "gitVersion": "standin",
            "modules": [],
            "bits": 64,
            "maxBsonObjectSize": MAX_BSON_SIZE,
            "ok": 1.0,
        }

    def cmd_getparameter(self, call: _Call) -> Doc:
        reply: Doc = {"ok": 1.0}
        if "featureCompatibilityVersion" in call.cmd:
            reply["featureCompatibilityVersion"] = {"version": SERVER_VERSION[:3]}
        return reply

    # -- writes -------------------------------------------------------------------------

    @staticmethod
    def _statements(call: _Call, key: str, apply: Callable[[int, Doc], None]) -> Doc:
        """Run a write command's statements, collecting per-statement ``writeErrors``."""
        errors: list[Doc] = []
        for index, statement in enumerate(call.opt(key, [])):
            try:
                apply(index, statement)
            except Exception as exc:
                if isinstance(exc, CommandError) and exc.labels:
                    raise  # transaction-level failures are command errors on mongod too
                code, message = _error_info(exc)
                errors.append({"index": index, "code": code, "errmsg": message})
            if errors and call.opt("ordered", True):
                break
        return {"writeErrors": errors} if errors else {}

    def cmd_insert(self, call: _Call) -> Doc:
        self._check_namespace_in_transaction(call)
        coll, counts = self._coll(call), {"n": 0}

        def insert(index: int, doc: Doc) -> None:
            self._check_uncommitted_clash(call, coll, doc)
            inserted_id = coll.insert_one(doc).inserted_id
            counts["n"] += 1
            self._record(call, "remove", [inserted_id])

        errors = self._statements(call, "documents", insert)
        return {**counts, **errors, "ok": 1.0}

    def cmd_update(self, call: _Call) -> Doc:
        self._check_namespace_in_transaction(call)
        coll, counts, upserted = self._coll(call), {"n": 0, "nModified": 0}, []

        def update(index: int, spec: Doc) -> None:
            query, multi = spec.get("q") or {}, bool(spec.get("multi"))
            if spec.get("collation"):
                raise NotImplementedError("collation")
            self._check_targetable(call, query, multi=multi, upsert=bool(spec.get("upsert")))
            plain_id = query.get("_id")
            if (
                call.txn is not None
                and plain_id is not None
                and not isinstance(plain_id, dict)
                and self._held_by_another(call, plain_id)
            ):
                message = "WriteConflict error: this operation conflicted with another operation."
                raise CommandError(112, message, _TRANSIENT)
            if call.txn is not None:
                priors = list(coll.find(query)) if multi else [coll.find_one(query)]
                self._record(call, "restore", [doc for doc in priors if doc])
            result = _apply_update(
                coll,
                query,
                spec["u"],
                multi=multi,
                upsert=bool(spec.get("upsert")),
                array_filters=spec.get("arrayFilters"),
            )
            if result.upserted_id is not None:
                counts["n"] += 1
                upserted.append({"index": index, "_id": result.upserted_id})
                self._record(call, "remove", [result.upserted_id])
            else:
                counts["n"] += result.matched_count
                counts["nModified"] += result.modified_count

        errors = self._statements(call, "updates", update)
        return {**counts, **({"upserted": upserted} if upserted else {}), **errors, "ok": 1.0}

    def cmd_delete(self, call: _Call) -> Doc:
        self._check_namespace_in_transaction(call)
        coll, counts = self._coll(call), {"n": 0}

        def delete(index: int, spec: Doc) -> None:
            query, just_one = spec.get("q") or {}, spec.get("limit", 0) == 1
            if spec.get("collation"):
                raise NotImplementedError("collation")
            if call.txn is not None:
                priors = [coll.find_one(query)] if just_one else list(coll.find(query))
                self._record(call, "restore", [doc for doc in priors if doc])
            result = coll.delete_one(query) if just_one else coll.delete_many(query)
            counts["n"] += result.deleted_count

        errors = self._statements(call, "deletes", delete)
        return {**counts, **errors, "ok": 1.0}

    def cmd_findandmodify(self, call: _Call) -> Doc:
        coll, query, fields = self._coll(call), call.opt("query", {}), call.opt("fields") or None
        update, upsert, remove = call.opt("update"), bool(call.opt("upsert")), call.opt("remove")
        if call.opt("collation"):
            raise NotImplementedError("collation")
        if remove and (update is not None or upsert or call.opt("new")):
            raise CommandError(9, "remove cannot be combined with update, upsert or new")
        if not remove and update is None:
            raise CommandError(9, "Either an update or remove=true must be specified")
        old = coll.find_one(query, sort=_sort_spec(call.opt("sort")))
        value = coll.find_one({"_id": old["_id"]}, fields) if old and fields else old
        last_error: Doc = {"n": 0, "updatedExisting": False}
        target_id: Any = None
        if old is not None:
            self._record(call, "restore", [old])
            if remove:
                coll.delete_one({"_id": old["_id"]})
                return {"lastErrorObject": {"n": 1}, "value": value, "ok": 1.0}
            target_id = old["_id"]
            one = (
                {"$and": [query, {"_id": target_id}]}
                if "_id" in query
                else {**query, "_id": target_id}
            )
            _apply_update(
                coll, one, update, multi=False, upsert=False, array_filters=call.opt("arrayFilters")
            )
            last_error = {"n": 1, "updatedExisting": True}
        elif upsert:
            result = _apply_update(
                coll,
                query,
                update,
                multi=False,
                upsert=True,
                array_filters=call.opt("arrayFilters"),
            )
            target_id = result.upserted_id
            self._record(call, "remove", [target_id])
            last_error = {"n": 1, "updatedExisting": False, "upserted": target_id}
        if call.opt("new") and target_id is not None:
            value = coll.find_one({"_id": target_id}, fields)
        return {"lastErrorObject": last_error, "value": value, "ok": 1.0}

    # -- reads and cursors --------------------------------------------------------------

    def _cursor_reply(self, ns: str, docs: list[Doc], batch_size: Any, single: bool = False) -> Doc:
        cursor = _Cursor(ns, docs)
        first = cursor.take(DEFAULT_BATCH_SIZE if batch_size is None else int(batch_size))
        cursor_id = 0
        if not cursor.exhausted and not single:
            cursor_id = random.getrandbits(62) + 1
            self._cursors[cursor_id] = cursor
        return {"cursor": {"id": Int64(cursor_id), "ns": ns, "firstBatch": first}, "ok": 1.0}

    def cmd_find(self, call: _Call) -> Doc:
        if call.opt("collation"):
            raise NotImplementedError("collation")
        limit = int(call.opt("limit", 0))
        if "$text" in call.opt("filter", {}):
            index = self._text.get((call.db, call.target))
            if index is None:
                raise CommandError(27, "text index required for $text query")
            docs = find_text(
                self._readable(call),
                index,
                call.opt("filter"),
                projection=call.opt("projection") or None,
                sort=_sort_spec(call.opt("sort")),
                skip=int(call.opt("skip", 0)),
                limit=abs(limit),
            )
            single = bool(call.opt("singleBatch")) or limit < 0
            return self._cursor_reply(call.ns, docs, call.opt("batchSize"), single)
        cursor = self._readable(call).find(
            call.opt("filter", {}),
            projection=call.opt("projection") or None,
            skip=int(call.opt("skip", 0)),
            limit=abs(limit),
            sort=_sort_spec(call.opt("sort")),
        )
        single = bool(call.opt("singleBatch")) or limit < 0
        return self._cursor_reply(call.ns, list(cursor), call.opt("batchSize"), single)

    def cmd_getmore(self, call: _Call) -> Doc:
        cursor_id = int(call.target)
        cursor = self._cursors.get(cursor_id)
        if cursor is None:
            raise CommandError(43, f"cursor id {cursor_id} not found")
        batch = cursor.take(int(call.opt("batchSize", 0)) or None)
        if cursor.exhausted:
            del self._cursors[cursor_id]
            cursor_id = 0
        return {"cursor": {"id": Int64(cursor_id), "ns": cursor.ns, "nextBatch": batch}, "ok": 1.0}

    def cmd_killcursors(self, call: _Call) -> Doc:
        killed: list[Int64] = []
        unknown: list[Int64] = []
        for cursor_id in call.opt("cursors", []):
            found = self._cursors.pop(int(cursor_id), None) is not None
            (killed if found else unknown).append(Int64(cursor_id))
        return {
            "cursorsKilled": killed,
            "cursorsNotFound": unknown,
            "cursorsAlive": [],
            "cursorsUnknown": [],
            "ok": 1.0,
        }

    def cmd_count(self, call: _Call) -> Doc:
        options: Doc = {"skip": int(call.opt("skip", 0))}
        if call.opt("limit"):
            options["limit"] = abs(int(call.opt("limit")))
        count = self._readable(call).count_documents(call.opt("query", {}), **options)
        return {"n": count, "ok": 1.0}

    def cmd_distinct(self, call: _Call) -> Doc:
        values = self._readable(call).distinct(call.cmd["key"], call.opt("query", {}))
        return {"values": list(values), "ok": 1.0}

    def cmd_aggregate(self, call: _Call) -> Doc:
        if not isinstance(call.target, str):
            raise NotImplementedError("database-level aggregate")
        if call.opt("explain") or call.opt("collation"):
            raise NotImplementedError("explain/collation")
        pipeline = call.opt("pipeline", [])
        coll = self._readable(call)
        docs = [] if _groups_nothing(coll, pipeline) else list(coll.aggregate(pipeline))
        if pipeline and next(iter(pipeline[-1]), "") in ("$out", "$merge"):
            docs = []
        return self._cursor_reply(call.ns, docs, call.opt("cursor", {}).get("batchSize"))

    # -- indexes and namespaces ---------------------------------------------------------

    def cmd_createindexes(self, call: _Call) -> Doc:
        coll, existed = self._coll(call), self._exists(call)
        before = len(coll.index_information()) if existed else 1
        shard_key = self._shard_keys.get((call.db, call.target))
        for spec in call.opt("indexes", []):
            if "text" in spec["key"].values():
                self._create_text_index(call, spec)
                continue
            keys = list(spec["key"].items())
            name = spec.get("name") or "_".join(f"{k}_{v}" for k, v in keys)
            if shard_key is not None and spec.get("unique"):
                _check_unique_prefix(call.ns, [k for k, _ in keys], shard_key)
            options = {
                k: spec[k] for k in ("unique", "sparse", "partialFilterExpression") if k in spec
            }
            coll.create_index(keys, name=name, **options)
            # TTL is kept here, not in mongomock, which would expire documents on every access.
            if spec.get("expireAfterSeconds") is not None:
                self._ttl.setdefault((call.db, call.target), {})[name] = spec["expireAfterSeconds"]
        return {
            "createdCollectionAutomatically": not existed,
            "numIndexesBefore": before,
            "numIndexesAfter": len(coll.index_information()),
            "ok": 1.0,
        }

    def _create_text_index(self, call: _Call, spec: Doc) -> None:
        """mongod allows one text index per collection; the same one again is a no-op."""
        index = TextIndexSpec.from_request(spec)
        current = self._text.get((call.db, call.target))
        if current is not None and current != index:
            raise CommandError(85, f"a different text index exists: {current.name}")
        if not self._exists(call):
            self._client[call.db].create_collection(call.target)
        self._text[(call.db, call.target)] = index

    def cmd_listindexes(self, call: _Call) -> Doc:
        if not self._exists(call):
            raise CommandError(26, f"ns does not exist: {call.ns}")
        ttl = self._ttl.get((call.db, call.target), {})
        indexes = list(self._coll(call).list_indexes())
        for index in indexes:
            if index["name"] in ttl:
                index["expireAfterSeconds"] = ttl[index["name"]]
        text = self._text.get((call.db, call.target))
        if text is not None:
            indexes.append(text.describe())
        return self._cursor_reply(call.ns, indexes, call.opt("cursor", {}).get("batchSize"))

    def cmd_dropindexes(self, call: _Call) -> Doc:
        if not self._exists(call):
            raise CommandError(26, f"ns not found: {call.ns}")
        coll, index = self._coll(call), call.opt("index", "*")
        ttl = self._ttl.setdefault((call.db, call.target), {})
        was = len(coll.index_information())
        text = self._text.get((call.db, call.target))
        if index == "*":
            coll.drop_indexes()
            ttl.clear()
            self._text.pop((call.db, call.target), None)
            return {"nIndexesWas": was, "ok": 1.0}
        if isinstance(index, dict):
            index = "_".join(f"{k}_{v}" for k, v in index.items())
        for name in [index] if isinstance(index, str) else index:
            if text is not None and name == text.name:
                del self._text[(call.db, call.target)]
                continue
            coll.drop_index(name)
            ttl.pop(name, None)
        return {"nIndexesWas": was, "ok": 1.0}

    def cmd_enablesharding(self, call: _Call) -> Doc:
        if not self.sharded:
            raise CommandError(59, "no such command: 'enableSharding' (not a mongos)")
        return {"ok": 1.0}

    def cmd_shardcollection(self, call: _Call) -> Doc:
        if not self.sharded:
            raise CommandError(59, "no such command: 'shardCollection' (not a mongos)")
        db, _, name = str(call.target).partition(".")
        key: Doc = dict(call.opt("key", {}))
        known = self._shard_keys.get((db, name))
        if known is not None:
            if known != key:
                raise CommandError(2, f"{call.target} is already sharded with key {known}")
            return {"collectionsharded": call.target, "ok": 1.0}
        coll = self._collection(db, name)
        if name in self._client[db].list_collection_names():
            for info in coll.index_information().values():
                if info.get("unique"):
                    _check_unique_prefix(str(call.target), [k for k, _ in info["key"]], key)
        else:
            self._client[db].create_collection(name)
        self._shard_keys[(db, name)] = key
        return {"collectionsharded": call.target, "ok": 1.0}

    def cmd_bulkwrite(self, call: _Call) -> Doc:
        """MongoDB 8.0's client-level bulk write: operations on any namespaces in one
        command, each answered in the reply's cursor."""
        namespaces = [str(ns["ns"]) for ns in call.opt("nsInfo", [])]
        ordered, errors_only = call.opt("ordered", True), call.opt("errorsOnly", False)
        results: list[Doc] = []
        totals: Counter[str] = Counter()
        for idx, op in enumerate(call.opt("ops", [])):
            kind = next(iter(op))
            db, _, name = namespaces[int(op[kind])].partition(".")
            sub: Doc
            if kind == "insert":
                sub = {"insert": name, "documents": [op["document"]]}
            elif kind == "update":
                statement = {
                    "q": op.get("filter") or {},
                    "u": op["updateMods"],
                    "multi": bool(op.get("multi")),
                    "upsert": bool(op.get("upsert")),
                }
                sub = {"update": name, "updates": [statement]}
            elif kind == "delete":
                limit = 0 if op.get("multi") else 1
                sub = {"delete": name, "deletes": [{"q": op.get("filter") or {}, "limit": limit}]}
            else:
                raise CommandError(2, f"unknown bulkWrite operation {kind!r}")
            reply = getattr(self, "cmd_" + kind)(_Call(db, kind, sub, call.txn, call.conn_id))
            if reply.get("writeErrors"):
                error = reply["writeErrors"][0]
                totals["nErrors"] += 1
                code = int(error["code"])
                codename = _CODE_NAMES.get(code, "UnknownError")
                results.append(
                    {
                        "ok": 0.0,
                        "idx": idx,
                        "code": code,
                        "errmsg": error["errmsg"],
                        "codeName": codename,
                    }
                )
                if ordered:
                    break
                continue
            result: Doc = {"ok": 1.0, "idx": idx, "n": reply["n"]}
            if kind == "insert":
                totals["nInserted"] += reply["n"]
            elif kind == "delete":
                totals["nDeleted"] += reply["n"]
            else:
                result["nModified"] = reply["nModified"]
                totals["nModified"] += reply["nModified"]
                if reply.get("upserted"):
                    result["upserted"] = {"_id": reply["upserted"][0]["_id"]}
                    totals["nUpserted"] += 1
                else:
                    totals["nMatched"] += reply["n"]
            if not errors_only:
                results.append(result)
        if totals["nErrors"] and call.txn is not None and call.txn.state == "active":
            self._rollback(call.txn)  # mongod aborts a transaction on a failed statement
        counts = {
            name: totals[name]
            for name in ("nErrors", "nInserted", "nMatched", "nModified", "nUpserted", "nDeleted")
        }
        cursor = {"id": Int64(0), "firstBatch": results, "ns": "admin.$cmd.bulkWrite"}
        return {**counts, "cursor": cursor, "ok": 1.0}

    def cmd_listcollections(self, call: _Call) -> Doc:
        docs: list[Doc] = []
        for name in sorted(self._client[call.db].list_collection_names()):
            doc: Doc = {
                "name": name,
                "type": "collection",
                "options": {},
                "info": {"readOnly": False},
                "idIndex": {"v": 2, "key": {"_id": 1}, "name": "_id_"},
            }
            if filter_applies(call.opt("filter", {}), doc):
                docs.append({"name": name, "type": "collection"} if call.opt("nameOnly") else doc)
        batch_size = call.opt("cursor", {}).get("batchSize")
        return self._cursor_reply(f"{call.db}.$cmd.listCollections", docs, batch_size)

    def cmd_create(self, call: _Call) -> Doc:
        self._client[call.db].create_collection(call.target)
        return {"ok": 1.0}

    def cmd_drop(self, call: _Call) -> Doc:
        was = 0
        if self._exists(call):
            was = len(self._coll(call).index_information())
            self._client[call.db].drop_collection(call.target)
        self._ttl.pop((call.db, call.target), None)
        self._text.pop((call.db, call.target), None)
        return {"ns": call.ns, "nIndexesWas": was, "ok": 1.0}

    def cmd_dropdatabase(self, call: _Call) -> Doc:
        self._client.drop_database(call.db)
        for key in [key for key in self._ttl if key[0] == call.db]:
            del self._ttl[key]
        for key in [key for key in self._text if key[0] == call.db]:
            del self._text[key]
        return {"dropped": call.db, "ok": 1.0}

    def cmd_listdatabases(self, call: _Call) -> Doc:
        databases: list[Doc] = []
        for name in sorted(self._client.list_database_names()):
            doc: Doc = {"name": name, "sizeOnDisk": 0, "empty": False}
            if filter_applies(call.opt("filter", {}), doc):
                databases.append({"name": name} if call.opt("nameOnly") else doc)
        return {"databases": databases, "totalSize": 0, "totalSizeMb": 0, "ok": 1.0}


def _groups_nothing(coll: Any, pipeline: list[Doc]) -> bool:
    """Whether the first `$group` of the pipeline gets no documents: mongod then answers no
    group at all, where mongomock answers one with `_id: null` (so nothing after it runs;
    `$facet` and `$unionWith` are not emulated)."""
    for position, stage in enumerate(pipeline):
        if "$group" in stage:
            return not list(coll.aggregate([*pipeline[:position], {"$limit": 1}]))
    return False


def _check_unique_prefix(ns: str, fields: list[str], shard_key: Doc) -> None:
    """mongod keeps a unique index unique only when it starts with the shard key."""
    if fields[: len(shard_key)] != list(shard_key) and fields != ["_id"]:
        message = (
            f"cannot create unique index over {fields} with shard key pattern {shard_key} on {ns}"
        )
        raise CommandError(67, message)


# -- wire protocol ---------------------------------------------------------------------

_request_ids = itertools.count(1)


def _frame(op_code: int, response_to: int, payload: bytes) -> bytes:
    return _HEADER.pack(16 + len(payload), next(_request_ids), response_to, op_code) + payload


def _encode(reply: Doc) -> bytes:
    try:
        return bson.encode(reply)
    except Exception as exc:
        return bson.encode(_error_reply(exc))


def parse_op_msg(body: bytes) -> tuple[int, Doc]:
    """Decode an OP_MSG body (after the header) into (flagBits, command with sequences merged)."""
    (flags,) = struct.unpack_from("<I", body, 0)
    end = len(body) - (4 if flags & _CHECKSUM_PRESENT else 0)
    pos, command = 4, None
    sequences: dict[str, list[Doc]] = {}
    while pos < end:
        kind, (size,) = body[pos], _INT32.unpack_from(body, pos + 1)
        pos += 1
        if kind == 0:
            command = bson.decode(body[pos : pos + size], _CODEC)
        elif kind == 1:  # a document sequence: int32 size, cstring identifier, documents
            nul = body.index(b"\x00", pos + 4)
            docs = bson.decode_all(body[nul + 1 : pos + size], _CODEC)
            sequences.setdefault(body[pos + 4 : nul].decode(), []).extend(docs)
        else:
            raise ValueError(f"unknown OP_MSG section kind {kind}")
        pos += size
    if command is None:
        raise ValueError("OP_MSG without a body section")
    command.update(sequences)
    return flags, command


def parse_op_query(body: bytes) -> tuple[str, Doc]:
    """Decode an OP_QUERY body into (full collection name, query document)."""
    nul = body.index(b"\x00", 4)
    pos = nul + 1 + 8  # skip numberToSkip, numberToReturn
    (size,) = _INT32.unpack_from(body, pos)
    query = bson.decode(body[pos : pos + size], _CODEC)
    return body[4:nul].decode(), query.get("$query", query)


def handle_message(
    backend: Backend, op_code: int, request_id: int, body: bytes, conn_id: int
) -> bytes | None:
    """Answer one request message; None when no reply is due (moreToCome)."""
    if op_code == OP_MSG:
        flags, command = parse_op_msg(body)
        reply = backend.run(str(command.pop("$db", "admin")), command, conn_id)
        if flags & _MORE_TO_COME:
            return None
        return _frame(OP_MSG, request_id, struct.pack("<IB", 0, 0) + _encode(reply))
    if op_code == OP_QUERY:
        namespace, query = parse_op_query(body)
        if namespace.endswith(".$cmd"):
            reply = backend.run(namespace[: -len(".$cmd")], query, conn_id)
        else:
            reply = {"$err": "OP_QUERY is only supported for commands", "code": 352, "ok": 0.0}
        return _frame(OP_REPLY, request_id, struct.pack("<iqii", 0, 0, 0, 1) + _encode(reply))
    raise ValueError(f"unsupported opCode {op_code}")


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    chunks: list[bytes] = []
    while n:
        chunk = sock.recv(min(n, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


class _Handler(socketserver.BaseRequestHandler):
    server: _TCPServer

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn_id = self.server.track(sock)
        try:
            while (header := _recv_exact(sock, 16)) is not None:
                length, request_id, _, op_code = _HEADER.unpack(header)
                if not 16 < length <= MAX_MESSAGE_SIZE:
                    return
                body = _recv_exact(sock, length - 16)
                if body is None:
                    return
                reply = handle_message(self.server.backend, op_code, request_id, body, conn_id)
                if reply is not None:
                    sock.sendall(reply)
        except (OSError, ValueError, struct.error, bson.errors.BSONError):
            return  # a closed connection or a malformed message: drop the connection
        finally:
            self.server.untrack(sock)


class _TCPServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, address: tuple[str, int], backend: Backend) -> None:
        super().__init__(address, _Handler)
        self.backend = backend
        self._conn_ids = itertools.count(1)
        self._socks: set[socket.socket] = set()
        self._socks_lock = threading.Lock()

    def track(self, sock: socket.socket) -> int:
        with self._socks_lock:
            self._socks.add(sock)
        return next(self._conn_ids)

    def untrack(self, sock: socket.socket) -> None:
        with self._socks_lock:
            self._socks.discard(sock)

    def close_connections(self) -> None:
        with self._socks_lock:
            socks = list(self._socks)
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class MongoStandin:
    """The stand-in server, running in a background thread (one thread per connection).

    TTL indexes (``expireAfterSeconds``) are accepted and reported by ``listIndexes`` but
    ignored: documents never expire, so tests purge explicitly and deterministically.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        replica_set: str = "rs0",
        *,
        sharded: bool = False,
    ) -> None:
        self.host = host
        self.replica_set = replica_set
        self.sharded = sharded
        self.backend = Backend(replica_set=replica_set, sharded=sharded)
        self._requested_port = port
        self._server: _TCPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("MongoStandin is not running")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Connection string; the replica set name lets the driver run transactions."""
        if self.sharded:  # a mongos: no replica set to name
            return f"mongodb://{self.host}:{self.port}/?directConnection=true"
        options = f"directConnection=true&replicaSet={self.replica_set}"
        return f"mongodb://{self.host}:{self.port}/?{options}"

    def start(self) -> MongoStandin:
        """Bind (a free port unless one was given) and serve; returns once listening."""
        if self._server is None:
            self._server = _TCPServer((self.host, self._requested_port), self.backend)
            self.backend.address = f"{self.host}:{self.port}"
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"mongo-standin-{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, drop open connections and release the port."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def reset(self) -> None:
        """Forget all data, cursors and transactions (the server keeps running)."""
        self.backend.reset()

    def __enter__(self) -> MongoStandin:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

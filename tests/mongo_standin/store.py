"""The stand-in's state: one in-memory mongomock client and what mongod keeps beside the
data (cursors, transactions, TTL and text indexes, shard keys, the command log)."""

from __future__ import annotations

import copy
import functools
import re
import threading
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import bson
import bson.regex
import mongomock
import mongomock.collection
from mongomock import filtering

from tests.mongo_standin.protocol import LOG_LIMIT, MAX_BSON_SIZE, CommandError, Doc
from tests.mongo_standin.text import TextIndexSpec

filter_applies = cast(Callable[[Doc, Doc], bool], filtering.filter_applies)
_BATCH_BYTES = MAX_BSON_SIZE - 1024 * 1024

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


def sort_spec(sort: Any) -> list[tuple[str, Any]] | None:
    return list(sort.items()) if sort else None


@dataclass
class Txn:
    """One multi-document transaction of one logical session."""

    number: int
    state: str = "active"  # "active" | "committed" | "aborted"
    # ("remove", db, collection, _id) or ("restore", db, collection, prior document)
    undo: list[tuple[str, str, str, Any]] = field(default_factory=list)
    owned: set[tuple[str, str, bytes]] = field(default_factory=set)


@dataclass
class Cursor:
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
class Call:
    """One command invocation, as seen by a command handler."""

    db: str
    name: str
    cmd: Doc
    txn: Txn | None
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


class BackendState:
    """The data and bookkeeping every group of commands works on."""

    def __init__(
        self, address: str = "127.0.0.1:27017", replica_set: str = "rs0", *, sharded: bool = False
    ) -> None:
        self.address = address
        self.replica_set = replica_set
        self.sharded = sharded
        self._client: Any = mongomock.MongoClient()
        self._lock = threading.RLock()
        self._cursors: dict[int, Cursor] = {}
        self._txns: dict[bytes, Txn] = {}
        self._owners: dict[tuple[str, str, bytes], Txn] = {}
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

    def copy_database(self, source: str, target: str) -> None:
        """Make database `target` a copy of `source`: its collections, their indexes (TTL and
        text ones included), shard keys and documents. Tests that each want a database laid
        out by `khaibao db migrate` migrate one and copy it (mongod has had no `copydb` since
        4.2: on a real server each is migrated)."""
        with self._lock:
            if target in self._client.list_database_names():
                raise ValueError(f"database {target} exists")
            for name in self._client[source].list_collection_names():
                original = self._collection(source, name)
                self._client[target].create_collection(name)
                twin = self._collection(target, name)
                for index, info in original.index_information().items():
                    if index == "_id_":
                        continue
                    options = {
                        k: info[k]
                        for k in ("unique", "sparse", "partialFilterExpression")
                        if k in info
                    }
                    twin.create_index(info["key"], name=index, **options)
                documents = list(original.find())
                if documents:
                    twin.insert_many(copy.deepcopy(documents))
            tables: tuple[dict[tuple[str, str], Any], ...] = (
                self._ttl,
                self._text,
                self._shard_keys,
            )
            for table in tables:
                for (db, name), value in list(table.items()):
                    if db == source:
                        table[(target, name)] = copy.deepcopy(value)

    def _collection(self, db: str, name: Any) -> Any:
        if not isinstance(name, str) or not name:
            raise CommandError(2, f"collection name must be a non-empty string: {name!r}")
        coll = self._client[db][name]
        if "_iter_documents" not in vars(coll):
            coll._iter_documents = functools.partial(_iter_documents, coll)
        return coll

    def _coll(self, call: Call) -> Any:
        return self._collection(call.db, call.target)

    def _exists(self, call: Call) -> bool:
        return call.target in self._client[call.db].list_collection_names()

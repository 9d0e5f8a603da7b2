"""MongoDB adapter: production storage through PyMongo's async API (`AsyncMongoClient`).

Motor, the async driver the original design named, reached end of life in May 2026; PyMongo's
own async client replaces it with the same shape of API.

Durability and time, as production runs it:

* Every write and every transaction uses the configured write concern (`majority` by
  default) and every read the configured read concern: an acknowledged declaration is on a
  majority of nodes and survives a failover. The write concern is set on the client *and*
  passed to each transaction: `with_transaction` does not take it from the database.
* `timeoutMS` (client-side operation timeouts) bounds every operation, a transaction with its
  retries included. A timeout, like an unreachable or stepped-down primary, raises
  `StorageDown`, which the API answers with 503 and `Retry-After`; a declaration whose commit
  outcome is unknown is replayed from its idempotency record on retry.
* A batch of more than one operation runs in a multi-document transaction (a replica set or
  sharded cluster, as in docker-compose.yml), all-or-none as on SQLite. On MongoDB 8.0 its
  operations go in one client-level `bulkWrite` command, whatever collections they touch:
  a declaration is one write command and one commit, not one round trip per operation.

Collections and indexes are made by `khaibao db migrate` (`migrate`), once; a starting
process only checks they are there (`start`) and names what is missing. Expiry is the TTL
monitor's work alone (`expires_by_itself`). The shard plan is docs/shard-plan.md.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import pymongo
from pymongo import (
    ASCENDING,
    AsyncMongoClient,
    DeleteMany,
    InsertOne,
    ReadPreference,
    UpdateOne,
    WriteConcern,
)
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import (
    ClientBulkWriteException,
    ConnectionFailure,
    DuplicateKeyError,
    OperationFailure,
    PyMongoError,
    WriteConcernError,
)
from pymongo.read_concern import ReadConcern

from core.storage.mongo_text import (
    HIDE_SHADOW,
    SORT_BY_SCORE,
    index_model,
    shadow_sets,
    text_index_name,
    text_query,
    with_shadow,
)
from core.storage.port import (
    CollectionSpec,
    Delete,
    Document,
    DuplicateKey,
    Filter,
    Insert,
    Operation,
    PreconditionFailed,
    SchemaMissing,
    StorageDown,
    StorageError,
    Update,
    changed_index,
    retired_index,
)
from core.validation import ascii_digits

# Server answers that mean "not now" rather than "never": time limits, write concern not
# satisfied in time, a node shutting down or stepping down.
_UNAVAILABLE_CODES = frozenset({50, 64, 91, 189, 262, 10107, 11600, 11602, 13435, 13436})
_UNAVAILABLE_LABELS = (
    "TransientTransactionError",
    "UnknownTransactionCommitResult",
    "RetryableWriteError",
)
_CLIENT_BULK_WIRE_VERSION = 25  # MongoDB 8.0
_INDEX_NOT_FOUND = 27

# At DEBUG the driver logs every command with its documents (a declaration's symptoms in
# clear, encrypted fields as ciphertext). Logs carry no personal data at any level, so that
# log stays at INFO whatever KHAIBAO_LOG_LEVEL says (tests/declarations/test_privacy.py
# with KHAIBAO_TEST_BACKEND=mongo).
logging.getLogger("pymongo.command").setLevel(logging.INFO)
log = logging.getLogger(__name__)


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


class MongoStore:
    expires_by_itself = True  # TTL indexes: no purge loop runs against MongoDB
    serialises_writes = False  # concurrent transactions conflict on a shared document

    def __init__(
        self,
        url: str,
        *,
        write_concern: str = "majority",
        read_concern: str = "majority",
        database: str = "khaibao",
        timeout_ms: int = 5000,
        server_selection_timeout_ms: int = 5000,
        **client_options: Any,
    ) -> None:
        self._timeout_s = timeout_ms / 1000
        w: str | int = int(write_concern) if ascii_digits(write_concern) else write_concern
        self._write_concern = WriteConcern(w=w)
        self._read_concern = ReadConcern(read_concern)
        self._client: AsyncMongoClient[Document] = AsyncMongoClient(
            url,
            tz_aware=True,
            serverSelectionTimeoutMS=server_selection_timeout_ms,
            timeoutMS=timeout_ms,
            w=w,
            readConcernLevel=read_concern,
            **client_options,
        )
        self._db: AsyncDatabase[Document] = self._client.get_database(
            database,
            write_concern=self._write_concern,
            read_concern=self._read_concern,
            read_preference=ReadPreference.PRIMARY,
        )
        self._specs: dict[str, CollectionSpec] = {}
        self._client_bulk = False  # one bulkWrite per batch: known once started

    @property
    def database(self) -> AsyncDatabase[Document]:
        return self._db

    # -- schema ----------------------------------------------------------------------------

    async def migrate(
        self, specs: Sequence[CollectionSpec], *, drop_retired: bool = False
    ) -> list[str]:
        """Create what is missing: collections, indexes, TTL indexes, and on a sharded
        cluster the sharding of each collection by its shard key. Safe to run again; returns
        what it did, one line each. Run once per deployment (`khaibao db migrate`), never by
        every process at start-up.

        Then the contract half: an index named as this adapter names its own
        (`_is_ours`) that no spec declares any more is named, or with `drop_retired`
        dropped. Indexes named otherwise (an operator's own, `_id_`, a shard key's) are
        never touched."""
        done: list[str] = []
        try:
            existing = set(await self._db.list_collection_names())
            sharded = await self._is_cluster()
            refused = [reason for spec in specs for reason in spec.unshardable()]
            if sharded and refused:
                raise ValueError("cannot shard as declared: " + "; ".join(refused))
            if sharded:
                await self._client.admin.command("enableSharding", self._db.name)
            for spec in specs:
                if spec.name not in existing:
                    await self._db.create_collection(spec.name)
                    done.append(f"created collection {spec.name}")
                if sharded and spec.shard_key is not None:
                    await self._client.admin.command(
                        "shardCollection",
                        f"{self._db.name}.{spec.name}",
                        key={spec.shard_key: "hashed"},
                    )
                have = await self._indexes(spec.name)
                wanted = _wanted_indexes(spec)
                for name, keys, options in wanted:
                    if name not in have:
                        await self._db[spec.name].create_index(keys, name=name, **options)
                        done.append(f"created index {spec.name}.{name}")
                    elif _uniqueness_differs(have[name], options):
                        # createIndexes under the name would fail (IndexOptionsConflict);
                        # skipping it would leave the old uniqueness enforced, or none.
                        if drop_retired:
                            await self._rebuild_index(spec.name, name, keys, options)
                        unique = bool(options["unique"])
                        done.append(
                            changed_index(spec.name, name, unique=unique, rebuilt=drop_retired)
                        )
                declared = {name for name, _, _ in wanted}
                for name in sorted(set(have) - declared):
                    if not _is_ours(spec, name):
                        continue
                    if drop_retired:
                        await self._drop_index(spec.name, name)
                    done.append(retired_index(spec.name, name, dropped=drop_retired))
        except PyMongoError as exc:
            _raise_if_unavailable(exc)
            raise
        return done

    async def _rebuild_index(
        self, collection: str, name: str, keys: list[tuple[str, int]], options: dict[str, Any]
    ) -> None:
        """Dropped and built as declared (one key pattern cannot carry both uniquenesses).
        If it cannot be made unique (duplicates), it is built again as it was."""
        await self._drop_index(collection, name)
        try:
            await self._db[collection].create_index(keys, name=name, **options)
        except OperationFailure as exc:
            before = {**options, "unique": not options["unique"]}
            await self._db[collection].create_index(keys, name=name, **before)
            raise StorageError(
                f"cannot rebuild index {collection}.{name} as declared: {exc}; "
                "it was built again as it was"
            ) from exc

    async def _drop_index(self, collection: str, name: str) -> None:
        try:
            await self._db[collection].drop_index(name)
        except OperationFailure as exc:
            if exc.code != _INDEX_NOT_FOUND:  # gone already: another migrate dropped it
                raise

    async def missing(self, specs: Sequence[CollectionSpec]) -> list[str]:
        """What `migrate` would create: collections and indexes not there yet."""
        missing: list[str] = []
        try:
            existing = set(await self._db.list_collection_names())
            for spec in specs:
                if spec.name not in existing:
                    missing.append(f"collection {spec.name}")
                    continue
                have = await self._index_names(spec.name)
                missing += [
                    f"index {spec.name}.{name}"
                    for name, _, _ in _wanted_indexes(spec)
                    if name not in have
                ]
        except PyMongoError as exc:
            _raise_if_unavailable(exc)
            raise
        return missing

    async def _index_names(self, collection: str) -> set[str]:
        return set(await self._indexes(collection))

    async def _indexes(self, collection: str) -> dict[str, Document]:
        """Each index of the collection by name, as `listIndexes` describes it."""
        found = await self._db[collection].list_indexes()
        return {str(index["name"]): dict(index) async for index in found}

    async def _is_cluster(self) -> bool:
        hello = await self._client.admin.command("hello")
        return hello.get("msg") == "isdbgrid"

    async def start(self, specs: Sequence[CollectionSpec]) -> None:
        """Check, do not build: a process refuses to start on a database `khaibao db
        migrate` has not prepared, and says what is missing."""
        self._specs = {spec.name: spec for spec in specs}
        missing = await self.missing(specs)
        if missing:
            raise SchemaMissing(missing)
        try:
            hello = await self._client.admin.command("hello")
        except PyMongoError as exc:
            _raise_if_unavailable(exc)
            raise
        self._client_bulk = int(hello.get("maxWireVersion", 0)) >= _CLIENT_BULK_WIRE_VERSION

    async def close(self) -> None:
        await self._client.close()

    async def ping(self) -> None:
        try:
            await self._client.admin.command("ping")
        except PyMongoError as exc:
            _raise_if_unavailable(exc)
            raise

    def _collection(self, name: str) -> Any:
        if name not in self._specs:
            raise ValueError(f"unknown collection {name!r}")
        return self._db[name]

    # -- reads -----------------------------------------------------------------------------

    async def get(self, collection: str, document_id: str) -> Document | None:
        return await self.find_one(collection, {"_id": document_id})

    async def find_one(self, collection: str, where: Filter) -> Document | None:
        try:
            found: Document | None = await self._collection(collection).find_one(
                dict(where), self._projection(collection)
            )
        except PyMongoError as exc:
            _raise_if_unavailable(exc)
            raise
        return found

    async def find(
        self,
        collection: str,
        where: Filter,
        *,
        sort: Sequence[tuple[str, int]] = (),
        limit: int | None = None,
    ) -> list[Document]:
        cursor = self._collection(collection).find(dict(where), self._projection(collection))
        if sort:
            cursor = cursor.sort(list(sort))
        if limit is not None:
            cursor = cursor.limit(limit)
        try:
            found: list[Document] = await cursor.to_list(None)
        except PyMongoError as exc:
            _raise_if_unavailable(exc)
            raise
        return found

    def _projection(self, collection: str) -> Mapping[str, int] | None:
        """Searchable collections hide the folded copies (`core.storage.mongo_text`)."""
        spec = self._specs.get(collection)
        return HIDE_SHADOW if spec is not None and spec.text is not None else None

    async def search(
        self, collection: str, text: str, where: Filter | None = None, *, limit: int = 20
    ) -> list[Document]:
        spec = self._specs.get(collection)
        if spec is None or spec.text is None:
            raise ValueError(f"{collection!r} has no text index")
        query = text_query(text)
        if query is None:
            return []
        cursor = self._collection(collection).find({**(where or {}), "$text": query}, HIDE_SHADOW)
        try:
            found: list[Document] = await cursor.sort(SORT_BY_SCORE).limit(limit).to_list(None)
        except PyMongoError as exc:
            _raise_if_unavailable(exc)
            raise
        return found

    async def count(self, collection: str, where: Filter) -> int:
        try:
            return int(await self._collection(collection).count_documents(dict(where)))
        except PyMongoError as exc:
            _raise_if_unavailable(exc)
            raise

    async def totals(
        self, collection: str, where: Filter, *, by: Sequence[str], sum_of: str
    ) -> list[Document]:
        # Group keys by position: a dotted field name cannot be a key of `_id`. `$ifNull`
        # groups a missing field with null, as SQL's NULL does.
        keys = {f"g{i}": {"$ifNull": [f"${name}", None]} for i, name in enumerate(by)}
        pipeline = [
            {"$match": dict(where)},
            {"$group": {"_id": keys or None, "total": {"$sum": f"${sum_of}"}}},
        ]
        try:
            cursor = await self._collection(collection).aggregate(pipeline)
            rows: list[Document] = await cursor.to_list(None)
        except PyMongoError as exc:
            _raise_if_unavailable(exc)
            raise
        return [
            {**{name: row["_id"][f"g{i}"] for i, name in enumerate(by)}, sum_of: row["total"]}
            for row in rows
        ]

    # -- writes ----------------------------------------------------------------------------

    async def write(self, ops: Sequence[Operation]) -> list[int]:
        for op in ops:
            self._collection(op.collection)
        try:
            if len(ops) == 1:
                return [await self._apply(ops[0], None)]
            # The whole transaction, its retries (a WriteConflict, a commit whose outcome is
            # unknown) included, within one timeout: with_transaction alone retries for 120 s.
            with pymongo.timeout(self._timeout_s):
                async with self._client.start_session() as session:

                    async def run(s: AsyncClientSession) -> list[int]:
                        if self._bulk_possible(ops):
                            return await self._apply_in_bulk(ops, s)
                        return [await self._apply(op, s) for op in ops]

                    result: list[int] = await session.with_transaction(
                        run, read_concern=self._read_concern, write_concern=self._write_concern
                    )
                    return result
        except PyMongoError as exc:
            _raise_if_unavailable(exc)
            raise

    def _bulk_possible(self, ops: Sequence[Operation]) -> bool:
        return self._client_bulk

    async def _apply_in_bulk(
        self, ops: Sequence[Operation], session: AsyncClientSession
    ) -> list[int]:
        """Every operation of the batch in one `bulkWrite` command (MongoDB 8.0)."""
        models: list[Any] = []
        for op in ops:
            namespace = f"{self._db.name}.{op.collection}"
            if isinstance(op, Insert):
                models.append(InsertOne(self._stored(op), namespace=namespace))
            elif isinstance(op, Delete):
                models.append(DeleteMany(dict(op.where), namespace=namespace))
            else:
                query = {"_id": op.id, **op.when}
                # A bare precondition (nothing to change) matches or not, changing nothing:
                # bulkWrite has no count, and an empty update document is refused, while
                # $setOnInsert without upsert is ignored.
                change = self._change(op) or {"$setOnInsert": {"_id": op.id}}
                models.append(UpdateOne(query, change, upsert=op.upsert, namespace=namespace))
        try:
            result = await self._client.bulk_write(
                models, session=session, ordered=True, verbose_results=True
            )
        except ClientBulkWriteException as exc:
            if isinstance(exc.error, PyMongoError):
                # A command-level failure (a WriteConflict): raised as itself, so that its
                # TransientTransactionError label makes with_transaction run the batch again.
                raise exc.error from exc
            for error in exc.details.get("writeErrors") or ():  # documents, whatever the stubs say
                if error.get("code") == 11000:
                    raise DuplicateKey(ops[int(error["idx"])].collection) from exc
            raise
        counts: list[int] = []
        for index, op in enumerate(ops):
            if isinstance(op, Insert):
                counts.append(1)
            elif isinstance(op, Delete):
                counts.append(int(result.delete_results[index].deleted_count))
            else:
                update = result.update_results[index]
                if update.upserted_id is not None:
                    counts.append(1)
                    continue
                if update.matched_count == 0 and op.must_match:
                    raise PreconditionFailed(op.collection, op.id)
                counts.append(int(update.matched_count))
        return counts

    async def _apply(self, op: Operation, session: AsyncClientSession | None) -> int:
        collection = self._collection(op.collection)
        try:
            if isinstance(op, Insert):
                await collection.insert_one(self._stored(op), session=session)
                return 1
            if isinstance(op, Delete):
                deleted = await collection.delete_many(dict(op.where), session=session)
                return int(deleted.deleted_count)
            return await self._update(collection, op, session)
        except DuplicateKeyError as exc:
            raise DuplicateKey(op.collection) from exc
        except OperationFailure as exc:
            if exc.code == 11000:  # a duplicate key inside a transaction
                raise DuplicateKey(op.collection) from exc
            raise

    async def _update(self, collection: Any, op: Update, session: AsyncClientSession | None) -> int:
        change = self._change(op)
        query = {"_id": op.id, **op.when}
        if not change:
            matched = await collection.count_documents(query, session=session)
            if matched == 0 and op.must_match:
                raise PreconditionFailed(op.collection, op.id)
            return int(matched)
        result = await collection.update_one(query, change, upsert=op.upsert, session=session)
        if result.upserted_id is not None:
            return 1
        if result.matched_count == 0 and op.must_match:
            raise PreconditionFailed(op.collection, op.id)
        return int(result.matched_count)

    def _stored(self, op: Insert) -> Document:
        """The document as inserted: with the folded copies of a searchable collection."""
        text = self._specs[op.collection].text
        return op.document if text is None else with_shadow(text, op.document)

    def _change(self, op: Update) -> dict[str, Any]:
        text = self._specs[op.collection].text
        change: dict[str, Any] = {}
        if op.set:
            change["$set"] = dict(op.set) | (shadow_sets(text, op.set) if text else {})
        if op.inc:
            change["$inc"] = dict(op.inc)
        if op.set_on_insert:
            shadow = shadow_sets(text, op.set_on_insert) if text else {}
            change["$setOnInsert"] = dict(op.set_on_insert) | shadow
        return change

    async def purge_expired(self, now: datetime) -> int:
        """The TTL monitor deletes expired documents on a server (`expires_by_itself`), and
        nothing in the service calls this on MongoDB. Tests call it, because the stand-in
        has no TTL monitor."""
        total = 0
        for spec in self._specs.values():
            if spec.expires_field:
                ops = [Delete(spec.name, {spec.expires_field: {"$lt": now}})]
                total += sum(await self.write(ops))
        return total


def _wanted_indexes(
    spec: CollectionSpec,
) -> list[tuple[str, list[tuple[str, int]], dict[str, Any]]]:
    """(name, keys, options) of every index the spec declares, its TTL index included."""
    wanted: list[tuple[str, list[tuple[str, int]], dict[str, Any]]] = [
        (
            "ix_" + "_".join(f.replace(".", "_") for f in index.fields),
            [(name, ASCENDING) for name in index.fields],
            {"unique": index.unique},
        )
        for index in spec.indexes
    ]
    if spec.text is not None:
        keys, options = index_model(spec)
        wanted.append((str(options.pop("name")), keys, options))  # type: ignore[arg-type]
    if spec.expires_field:
        # expireAfterSeconds=0: each document carries its own expiry time.
        wanted.append(
            (
                "ttl_" + spec.expires_field,
                [(spec.expires_field, ASCENDING)],
                {"expireAfterSeconds": 0},
            )
        )
    return wanted


def _uniqueness_differs(built: Document, options: Mapping[str, Any]) -> bool:
    return "unique" in options and bool(built.get("unique")) != bool(options["unique"])


def _is_ours(spec: CollectionSpec, name: str) -> bool:
    """Whether an index is named as `_wanted_indexes` names those it makes: `ix_…`,
    `ttl_…`, and the collection's text index (`core.storage.mongo_text.text_index_name`)."""
    return name.startswith(("ix_", "ttl_")) or name == text_index_name(spec.name)


def _raise_if_unavailable(exc: PyMongoError) -> None:
    """StorageDown for an outage or a timeout; the caller re-raises anything else (a bug)."""
    if is_unavailable(exc):
        code = getattr(exc, "code", None)
        log.warning(
            "storage unavailable", extra={"fields": {"error": type(exc).__name__, "code": code}}
        )
        raise StorageDown(f"{type(exc).__name__} {code}") from exc

"""The MongoDB store: the `Store` contract on a replica set or a sharded cluster, put
together from its parts.

* `schema` makes collections and indexes (`khaibao db migrate`) and names what is missing;
* `writes` applies operations: one alone, a batch in a transaction or one `bulkWrite`;
* `errors` tells an outage (`StorageDown`) from a bug.

This module makes the client (one per process, its write and read concerns and timeouts),
checks at start-up that the schema is there, answers reads and checks that every operation
names a known collection.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from pymongo import AsyncMongoClient, ReadPreference, WriteConcern
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError
from pymongo.read_concern import ReadConcern

from core.storage.mongo.errors import raise_if_unavailable
from core.storage.mongo.schema import Schema
from core.storage.mongo.writes import Writer
from core.storage.mongo_text import HIDE_SHADOW, SORT_BY_SCORE, text_query
from core.storage.port import (
    CollectionSpec,
    Delete,
    Document,
    Filter,
    InsertHooks,
    Operation,
    SchemaMissing,
)
from core.validation import ascii_digits

_CLIENT_BULK_WIRE_VERSION = 25  # MongoDB 8.0

# At DEBUG the driver logs every command with its documents (a declaration's symptoms in
# clear, encrypted fields as ciphertext). Logs carry no personal data at any level, so that
# log stays at INFO whatever KHAIBAO_LOG_LEVEL says (tests/declarations/test_privacy.py
# with KHAIBAO_TEST_BACKEND=mongo).
logging.getLogger("pymongo.command").setLevel(logging.INFO)


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
        self._after_insert = InsertHooks()
        self._schema = Schema(self._client, self._db)
        self._writer = Writer(
            self._client,
            self._db,
            write_concern=self._write_concern,
            read_concern=self._read_concern,
            timeout_s=timeout_ms / 1000,
        )

    @property
    def database(self) -> AsyncDatabase[Document]:
        return self._db

    # -- schema ----------------------------------------------------------------------------

    async def migrate(
        self, specs: Sequence[CollectionSpec], *, drop_retired: bool = False
    ) -> list[str]:
        """`khaibao db migrate`: `Schema.migrate`."""
        return await self._schema.migrate(specs, drop_retired=drop_retired)

    async def missing(self, specs: Sequence[CollectionSpec]) -> list[str]:
        """What `migrate` would create: `Schema.missing`."""
        return await self._schema.missing(specs)

    async def start(self, specs: Sequence[CollectionSpec]) -> None:
        """Check, do not build: a process refuses to start on a database `khaibao db
        migrate` has not prepared, and says what is missing."""
        self._specs = self._writer.specs = {spec.name: spec for spec in specs}
        missing = await self.missing(specs)
        if missing:
            raise SchemaMissing(missing)
        try:
            hello = await self._client.admin.command("hello")
        except PyMongoError as exc:
            raise_if_unavailable(exc)
            raise
        self._writer.client_bulk = int(hello.get("maxWireVersion", 0)) >= _CLIENT_BULK_WIRE_VERSION

    async def close(self) -> None:
        await self._client.close()

    async def ping(self) -> None:
        try:
            await self._client.admin.command("ping")
        except PyMongoError as exc:
            raise_if_unavailable(exc)
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
            raise_if_unavailable(exc)
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
            raise_if_unavailable(exc)
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
            raise_if_unavailable(exc)
            raise
        return found

    async def count(self, collection: str, where: Filter) -> int:
        try:
            return int(await self._collection(collection).count_documents(dict(where)))
        except PyMongoError as exc:
            raise_if_unavailable(exc)
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
            raise_if_unavailable(exc)
            raise
        return [
            {**{name: row["_id"][f"g{i}"] for i, name in enumerate(by)}, sum_of: row["total"]}
            for row in rows
        ]

    # -- writes ----------------------------------------------------------------------------

    async def write(self, ops: Sequence[Operation]) -> list[int]:
        for op in ops:
            self._collection(op.collection)
        counts = await self._writer.write(ops)
        if self._after_insert:  # committed: a failed batch raised above
            self._after_insert.committed((ops,))
        return counts

    def after_insert(self, collection: str, callback: Callable[[], None]) -> None:
        """`write` calls it once the batch's transaction (or its lone operation) has
        committed, on the writer's own task."""
        self._collection(collection)
        self._after_insert.add(collection, callback)

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

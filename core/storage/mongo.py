"""MongoDB adapter: production storage through PyMongo's async API (`AsyncMongoClient`).

Motor, the async driver the original design named, reached end of life in May 2026; PyMongo's
own async client replaces it with the same shape of API.

A batch of more than one operation runs in a multi-document transaction (MongoDB must be a
replica set or sharded cluster, as it is in docker-compose.yml), so it is all-or-none just
as on SQLite. Writes use the configured write concern, `majority` by default: an
acknowledged declaration is on a majority of nodes. At national scale collections are
sharded by the person-derived key the repositories use as `_id` prefix.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, AsyncMongoClient, WriteConcern
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import (
    ConnectionFailure,
    DuplicateKeyError,
    NotPrimaryError,
    OperationFailure,
    ServerSelectionTimeoutError,
)

from core.storage.mongo_text import (
    HIDE_SHADOW,
    SORT_BY_SCORE,
    index_model,
    shadow_sets,
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
    StorageDown,
    Update,
)
from core.validation import ascii_digits

_UNAVAILABLE = (ConnectionFailure, ServerSelectionTimeoutError, NotPrimaryError)

# At DEBUG the driver logs every command with its documents (a declaration's symptoms in
# clear, encrypted fields as ciphertext). Logs carry no personal data at any level, so that
# log stays at INFO whatever KHAIBAO_LOG_LEVEL says (tests/declarations/test_privacy.py
# with KHAIBAO_TEST_BACKEND=mongo).
logging.getLogger("pymongo.command").setLevel(logging.INFO)


class MongoStore:
    def __init__(
        self,
        url: str,
        *,
        write_concern: str = "majority",
        database: str = "khaibao",
        server_selection_timeout_ms: int = 5000,
    ) -> None:
        w: str | int = int(write_concern) if ascii_digits(write_concern) else write_concern
        self._client: AsyncMongoClient[Document] = AsyncMongoClient(
            url,
            tz_aware=True,
            serverSelectionTimeoutMS=server_selection_timeout_ms,
        )
        self._db: AsyncDatabase[Document] = self._client.get_database(
            database, write_concern=WriteConcern(w=w)
        )
        self._specs: dict[str, CollectionSpec] = {}

    @property
    def database(self) -> AsyncDatabase[Document]:
        return self._db

    async def start(self, specs: Sequence[CollectionSpec]) -> None:
        self._specs = {spec.name: spec for spec in specs}
        try:
            for spec in specs:
                collection = self._db[spec.name]
                for index in spec.indexes:
                    await collection.create_index(
                        [(name, ASCENDING) for name in index.fields],
                        unique=index.unique,
                        name="ix_" + "_".join(f.replace(".", "_") for f in index.fields),
                    )
                if spec.text is not None:
                    keys, options = index_model(spec)
                    await collection.create_index(keys, **options)
                if spec.expires_field:
                    # expireAfterSeconds=0: each document carries its own expiry time.
                    await collection.create_index(
                        [(spec.expires_field, ASCENDING)],
                        expireAfterSeconds=0,
                        name="ttl_" + spec.expires_field,
                    )
        except _UNAVAILABLE as exc:
            raise StorageDown(str(exc)) from exc

    async def close(self) -> None:
        await self._client.close()

    async def ping(self) -> None:
        try:
            await self._client.admin.command("ping")
        except _UNAVAILABLE as exc:
            raise StorageDown(str(exc)) from exc

    def _collection(self, name: str) -> Any:
        if name not in self._specs:
            raise ValueError(f"unknown collection {name!r}")
        return self._db[name]

    async def get(self, collection: str, document_id: str) -> Document | None:
        return await self.find_one(collection, {"_id": document_id})

    async def find_one(self, collection: str, where: Filter) -> Document | None:
        try:
            found: Document | None = await self._collection(collection).find_one(
                dict(where), self._projection(collection)
            )
        except _UNAVAILABLE as exc:
            raise StorageDown(str(exc)) from exc
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
        except _UNAVAILABLE as exc:
            raise StorageDown(str(exc)) from exc
        return found

    async def count(self, collection: str, where: Filter) -> int:
        try:
            return int(await self._collection(collection).count_documents(dict(where)))
        except _UNAVAILABLE as exc:
            raise StorageDown(str(exc)) from exc

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
        except _UNAVAILABLE as exc:
            raise StorageDown(str(exc)) from exc
        return found

    async def write(self, ops: Sequence[Operation]) -> list[int]:
        for op in ops:
            self._collection(op.collection)
        try:
            if len(ops) == 1:
                return [await self._apply(ops[0], None)]
            async with self._client.start_session() as session:

                async def run(s: AsyncClientSession) -> list[int]:
                    return [await self._apply(op, s) for op in ops]

                result: list[int] = await session.with_transaction(run)
                return result
        except _UNAVAILABLE as exc:
            raise StorageDown(str(exc)) from exc

    async def _apply(self, op: Operation, session: AsyncClientSession | None) -> int:
        collection = self._collection(op.collection)
        try:
            if isinstance(op, Insert):
                text = self._specs[op.collection].text
                document = op.document if text is None else with_shadow(text, op.document)
                await collection.insert_one(document, session=session)
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
        change: dict[str, Any] = {}
        text = self._specs[op.collection].text
        if op.set:
            change["$set"] = dict(op.set) | (shadow_sets(text, op.set) if text else {})
        if op.inc:
            change["$inc"] = dict(op.inc)
        if op.set_on_insert:
            shadow = shadow_sets(text, op.set_on_insert) if text else {}
            change["$setOnInsert"] = dict(op.set_on_insert) | shadow
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

    async def purge_expired(self, now: datetime) -> int:
        """MongoDB's TTL monitor deletes expired documents itself; this is for tests and for
        deployments that want expiry to the second rather than within the TTL monitor's minute."""
        total = 0
        for spec in self._specs.values():
            if spec.expires_field:
                ops = [Delete(spec.name, {spec.expires_field: {"$lt": now}})]
                total += sum(await self.write(ops))
        return total

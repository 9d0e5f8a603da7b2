"""Operations applied: one alone, a batch in a multi-document transaction, and on MongoDB 8.0
a batch in one client-level `bulkWrite` command."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pymongo
from pymongo import AsyncMongoClient, DeleteMany, InsertOne, UpdateOne, WriteConcern
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import (
    ClientBulkWriteException,
    DuplicateKeyError,
    OperationFailure,
    PyMongoError,
)
from pymongo.read_concern import ReadConcern

from core.storage.mongo.errors import raise_if_unavailable
from core.storage.mongo_text import shadow_sets, with_shadow
from core.storage.port import (
    CollectionSpec,
    Delete,
    Document,
    DuplicateKey,
    Insert,
    Operation,
    PreconditionFailed,
    Update,
)


class Writer:
    def __init__(
        self,
        client: AsyncMongoClient[Document],
        db: AsyncDatabase[Document],
        *,
        write_concern: WriteConcern,
        read_concern: ReadConcern,
        timeout_s: float,
    ) -> None:
        self._client = client
        self._db = db
        self._write_concern = write_concern
        self._read_concern = read_concern
        self._timeout_s = timeout_s
        self.specs: Mapping[str, CollectionSpec] = {}  # the store's, set by its `start`
        self.client_bulk = False  # one bulkWrite per batch: known once started

    async def write(self, ops: Sequence[Operation]) -> list[int]:
        """Every collection `ops` names is known: `MongoStore.write` checked."""
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
            raise_if_unavailable(exc)
            raise

    def _bulk_possible(self, ops: Sequence[Operation]) -> bool:
        return self.client_bulk

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
        collection: Any = self._db[op.collection]
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
        text = self.specs[op.collection].text
        return op.document if text is None else with_shadow(text, op.document)

    def _change(self, op: Update) -> dict[str, Any]:
        text = self.specs[op.collection].text
        change: dict[str, Any] = {}
        if op.set:
            change["$set"] = dict(op.set) | (shadow_sets(text, op.set) if text else {})
        if op.inc:
            change["$inc"] = dict(op.inc)
        if op.set_on_insert:
            shadow = shadow_sets(text, op.set_on_insert) if text else {}
            change["$setOnInsert"] = dict(op.set_on_insert) | shadow
        return change

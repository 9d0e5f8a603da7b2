"""Collections, indexes and sharding: made by `khaibao db migrate` (`Schema.migrate`), once,
and checked by a starting process (`Schema.missing`). The shard plan is docs/shard-plan.md."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pymongo import ASCENDING, AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure, PyMongoError

from core.storage.mongo.errors import raise_if_unavailable
from core.storage.mongo_text import index_model, text_index_name
from core.storage.port import (
    CollectionSpec,
    Document,
    Index,
    StorageError,
    changed_index,
    retired_index,
)

_INDEX_NOT_FOUND = 27


class Schema:
    def __init__(self, client: AsyncMongoClient[Document], db: AsyncDatabase[Document]) -> None:
        self._client = client
        self._db = db

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
            raise_if_unavailable(exc)
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
            raise_if_unavailable(exc)
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


def _wanted_indexes(
    spec: CollectionSpec,
) -> list[tuple[str, list[tuple[str, int]], dict[str, Any]]]:
    """(name, keys, options) of every index the spec declares, its TTL index included."""
    wanted: list[tuple[str, list[tuple[str, int]], dict[str, Any]]] = [
        ("ix_" + index.name, [(name, ASCENDING) for name in index.fields], _options(index))
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


def _options(index: Index) -> dict[str, Any]:
    """A partial index (`Index.only_with`) keeps no entry for a document without the field,
    so writing one costs it nothing; a query with an equality or range on the field implies
    the filter, which is what lets the planner use it."""
    options: dict[str, Any] = {"unique": index.unique}
    if index.only_with is not None:
        options["partialFilterExpression"] = {index.only_with: {"$exists": True}}
    return options


def _uniqueness_differs(built: Document, options: Mapping[str, Any]) -> bool:
    return "unique" in options and bool(built.get("unique")) != bool(options["unique"])


def _is_ours(spec: CollectionSpec, name: str) -> bool:
    """Whether an index is named as `_wanted_indexes` names those it makes: `ix_…`,
    `ttl_…`, and the collection's text index (`core.storage.mongo_text.text_index_name`)."""
    return name.startswith(("ix_", "ttl_")) or name == text_index_name(spec.name)

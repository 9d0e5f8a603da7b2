"""The storage contract, migrations: indexes created, changed and retired. Run unchanged on
SQLite (a real file) and MongoDB (a real server when KHAIBAO_TEST_MONGODB_URL is set, else
the wire-protocol stand-in driven by the real PyMongo async client), through the `store`
fixture of conftest.py."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import pytest

from core.storage import Delete, DuplicateKey, Index, Insert, StorageError, Store
from core.storage.mongo import MongoStore
from core.storage.port import changed_index, retired_index
from core.storage.sqlite import SqliteStore
from tests.core.conftest import ANSWERS, COUNTERS, PEOPLE, PLACES, SPECS, person


class TestMigration:
    async def test_migrate_twice_changes_nothing_the_second_time(self, store: Store) -> None:
        await store.migrate(SPECS)
        if isinstance(store, MongoStore):
            assert await store.migrate(SPECS) == []
            assert await store.missing(SPECS) == []
        await store.write([Insert("people", person(1))])
        assert await store.get("people", "p1") is not None


# An older version of these specs: `people` had one more index, which this one retired.
OLDER = (
    dataclasses.replace(PEOPLE, indexes=(*PEOPLE.indexes, Index(("user", "seen_at")))),
    COUNTERS,
    PLACES,
    ANSWERS,
)


async def schema(store: Store) -> set[tuple[str, str]]:
    """What the database itself lists: every index of every collection on MongoDB, every
    table, index and trigger (FTS5's among them) on SQLite."""
    if isinstance(store, MongoStore):
        found = set()
        for spec in SPECS:
            async for index in await store.database[spec.name].list_indexes():
                found.add((spec.name, index["name"]))
        return found
    assert isinstance(store, SqliteStore)
    conn = sqlite3.connect(store.path)
    try:
        return set(conn.execute("SELECT tbl_name, name FROM sqlite_master").fetchall())
    finally:
        conn.close()


async def index_by_hand(store: Store) -> None:
    """An index an operator made under a name of their own."""
    if isinstance(store, MongoStore):
        await store.database["people"].create_index([("status", 1)], name="by_hand_status")
        return
    assert isinstance(store, SqliteStore)
    conn = sqlite3.connect(store.path)
    try:
        conn.execute("CREATE INDEX by_hand_status ON people (json_extract(doc, '$.status'))")
    finally:
        conn.close()


def retired_lines(lines: list[str]) -> list[str]:
    return [line for line in lines if "retired index" in line]


def changed_lines(lines: list[str]) -> list[str]:
    return [line for line in lines if "changed index" in line or "rebuilt index" in line]


class TestChangedIndexes:
    """An index declared under the same name but with the other uniqueness: "create if
    missing" would keep the old one, and a uniqueness the code relies on would not hold."""

    async def test_migrate_names_it_and_rebuilds_it_only_when_told_and_when_it_can(
        self, store: Store
    ) -> None:
        unique = dataclasses.replace(COUNTERS, indexes=(Index(("day", "n"), unique=True),))
        newer = (PEOPLE, unique, PLACES, ANSWERS)
        name = "ix_day_n" if isinstance(store, MongoStore) else "ix_counters_day_n"
        twin = {"day": "2026-11-20", "n": 1}
        await store.write([Insert("counters", {"_id": "c1", **twin})])
        await store.write([Insert("counters", {"_id": "c2", **twin})])

        named = await store.migrate(newer)
        todo = changed_index("counters", name, unique=True, rebuilt=False)
        assert changed_lines(named) == [todo]
        assert "--drop-retired" in changed_lines(named)[0]
        # Two documents share the key: it cannot be made unique, and stays as it was.
        with pytest.raises(StorageError, match="it was"):
            await store.migrate(newer, drop_retired=True)
        await store.write([Insert("counters", {"_id": "c3", **twin})])
        assert await store.count("counters", {}) == 3

        await store.write([Delete("counters", {"_id": {"$in": ["c2", "c3"]}})])
        rebuilt = await store.migrate(newer, drop_retired=True)
        assert changed_lines(rebuilt) == [
            changed_index("counters", name, unique=True, rebuilt=True)
        ]
        with pytest.raises(DuplicateKey):
            await store.write([Insert("counters", {"_id": "c4", **twin})])
        assert changed_lines(await store.migrate(newer)) == []

        # And back: the older declaration again, not unique.
        assert changed_lines(await store.migrate(SPECS, drop_retired=True)) == [
            changed_index("counters", name, unique=False, rebuilt=True)
        ]
        await store.write([Insert("counters", {"_id": "c5", **twin})])
        assert await store.count("counters", {}) == 2


class TestRetiredIndexes:
    """The contract half of expand/contract (issue 26): an index an older version created
    and this one no longer declares is named by `migrate`, dropped only with
    `drop_retired`, and never by `start`; indexes named otherwise are never touched."""

    async def test_migrate_names_them_and_drops_only_when_told(self, store: Store) -> None:
        await store.migrate(OLDER)  # the database as the older version migrated it
        await index_by_hand(store)
        ours = "ix_user_seen_at" if isinstance(store, MongoStore) else "ix_people_user_seen_at"
        before = await schema(store)
        assert {("people", ours), ("people", "by_hand_status")} <= before

        named = await store.migrate(SPECS)
        assert retired_lines(named) == [retired_index("people", ours, dropped=False)]
        assert "--drop-retired" in named[-1]
        assert await schema(store) == before
        if isinstance(store, MongoStore):
            assert await store.missing(SPECS) == []  # nothing that refuses a start

        dropped = await store.migrate(SPECS, drop_retired=True)
        assert retired_lines(dropped) == [retired_index("people", ours, dropped=True)]
        assert await schema(store) == before - {("people", ours)}

        for drop in (False, True):
            assert retired_lines(await store.migrate(SPECS, drop_retired=drop)) == []
        assert await schema(store) == before - {("people", ours)}
        await store.write([Insert("answers", {"_id": "a1", "title": "Khai báo", "body": ""})])
        assert [d["_id"] for d in await store.search("answers", "khai bao")] == ["a1"]

    async def test_sqlite_start_never_drops_one(self, tmp_path: Path) -> None:
        path = tmp_path / "older.sqlite3"
        older = SqliteStore(path)
        await older.migrate(OLDER)
        await older.close()
        newer = SqliteStore(path)
        await newer.start(SPECS)  # creates what is missing, as every start does
        try:
            assert ("people", "ix_people_user_seen_at") in await schema(newer)
        finally:
            await newer.close()


# The version before `counters` had its index by checkpoint made partial: a full one.
FULL_BY_CHECKPOINT = dataclasses.replace(
    COUNTERS, indexes=(Index(("day", "n")), Index(("checkpoint", "day")))
)


async def partial_filter(store: Store, collection: str, name: str) -> object:
    """What the database itself says an index holds: MongoDB's `partialFilterExpression`,
    the WHERE of SQLite's CREATE INDEX; None for a full index."""
    if isinstance(store, MongoStore):
        async for index in await store.database[collection].list_indexes():
            if index["name"] == name:
                return index.get("partialFilterExpression")
        raise LookupError(name)
    assert isinstance(store, SqliteStore)
    conn = sqlite3.connect(store.path)
    try:
        (sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (name,)).fetchone()
    finally:
        conn.close()
    _, where, condition = str(sql).partition(" WHERE ")
    return condition if where else None


class TestPartialIndexUpgrade:
    """A full index declared partial now (`Index.only_with`) gets a name of its own, so
    `khaibao db migrate` on a database an older version migrated builds the partial one
    beside it and names the full one retired, as any index no longer declared."""

    async def test_migrate_builds_it_beside_the_full_one_and_retires_that(
        self, store: Store
    ) -> None:
        mongo = isinstance(store, MongoStore)
        full, partial = (
            ("ix_checkpoint_day", "ix_checkpoint_day_with_checkpoint")
            if mongo
            else ("ix_counters_checkpoint_day", "ix_counters_checkpoint_day_with_checkpoint")
        )
        older = (PEOPLE, FULL_BY_CHECKPOINT, PLACES, ANSWERS)
        await store.migrate(older, drop_retired=True)  # the database as the older version left it
        assert ("counters", partial) not in await schema(store)
        await store.write(
            [
                Insert("counters", {"_id": "d1", "day": "2026-11-20", "n": 1}),
                Insert("counters", {"_id": "c1", "day": "2026-11-20", "checkpoint": "cp1"}),
            ]
        )

        named = await store.migrate(SPECS)
        assert retired_lines(named) == [retired_index("counters", full, dropped=False)]
        assert {("counters", full), ("counters", partial)} <= await schema(store)
        if isinstance(store, MongoStore):
            assert f"created index counters.{partial}" in named
            assert await store.missing(SPECS) == []
            assert await partial_filter(store, "counters", partial) == {
                "checkpoint": {"$exists": True}
            }
        else:
            assert await partial_filter(store, "counters", partial) == (
                "json_extract(doc, '$.checkpoint') IS NOT NULL"
            )
        assert await partial_filter(store, "counters", full) is None

        dropped = await store.migrate(SPECS, drop_retired=True)
        assert retired_lines(dropped) == [retired_index("counters", full, dropped=True)]
        assert ("counters", full) not in await schema(store)
        found = await store.find("counters", {"checkpoint": "cp1", "day": "2026-11-20"})
        assert [d["_id"] for d in found] == ["c1"]
        assert [d["_id"] for d in await store.find("counters", {"checkpoint": None})] == ["d1"]


class TestPartialIndexDeclaration:
    def test_only_with_is_a_top_level_field_of_the_index(self) -> None:
        assert Index(("kind", "checkpoint_id"), only_with="checkpoint_id").name == (
            "kind_checkpoint_id_with_checkpoint_id"
        )
        for fields, only_with in (
            (("kind", "day"), "checkpoint_id"),
            (("kind", "trip.gate"), "trip.gate"),
            (("_id", "day"), "_id"),
        ):
            with pytest.raises(ValueError, match="only_with"):
                Index(fields, only_with=only_with)

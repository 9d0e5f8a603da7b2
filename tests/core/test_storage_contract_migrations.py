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

"""The storage contract, run unchanged against every adapter: SQLite (a real file) and
MongoDB (a real server when KHAIBAO_TEST_MONGODB_URL is set, else the wire-protocol
stand-in driven by the real PyMongo async client)."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.storage import (
    CollectionSpec,
    Delete,
    DuplicateKey,
    Index,
    Insert,
    Operation,
    PreconditionFailed,
    StorageError,
    Store,
    TextIndex,
    Update,
)
from core.storage.mongo import MongoStore
from core.storage.port import changed_index, retired_index
from core.storage.sqlite import SqliteStore

PEOPLE = CollectionSpec(
    "people",
    indexes=(Index(("id_hash",), unique=True), Index(("province", "status"))),
    datetime_fields=frozenset({"seen_at", "expires_at"}),
    expires_field="expires_at",
)
COUNTERS = CollectionSpec("counters", indexes=(Index(("day", "n")),))
PLACES = CollectionSpec("places", indexes=(Index(("address.ward",)),))
ANSWERS = CollectionSpec(
    "answers",
    indexes=(Index(("category", "state")),),
    text=TextIndex(("title", "body"), weights=(3, 1)),
)
SPECS = (PEOPLE, COUNTERS, PLACES, ANSWERS)
T0 = datetime(2026, 11, 20, 8, 30, 15, 123000, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "mongo"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    adapter: Store
    if request.param == "sqlite":
        adapter = SqliteStore(tmp_path / "contract.sqlite3")
    else:
        url: str = request.getfixturevalue("mongo_url")
        # 30 s, not the service's 5: one test sends 100 transactions at one counter document,
        # which conflict and are re-run one after another (docs/shard-plan.md, "Costs").
        adapter = MongoStore(url, database="contract_" + uuid.uuid4().hex[:10], timeout_ms=30_000)
    await adapter.migrate(SPECS)  # `khaibao db migrate`; SQLite's start would do it too
    await adapter.start(SPECS)
    yield adapter
    await adapter.close()


def person(n: int, **fields: object) -> dict[str, object]:
    return {
        "_id": f"p{n}",
        "id_hash": f"h{n}",
        "province": 1,
        "status": "green",
        "seen_at": T0 + timedelta(minutes=n),
        **fields,
    }


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


class TestReadsAndWrites:
    async def test_document_round_trips_with_datetime_and_diacritics(self, store: Store) -> None:
        await store.write([Insert("people", person(1, name="Nguyễn Thị Lan", tags={"a": [1, 2]}))])
        found = await store.get("people", "p1")
        assert found is not None
        assert found["name"] == "Nguyễn Thị Lan"
        assert found["seen_at"] == T0 + timedelta(minutes=1)
        assert found["tags"] == {"a": [1, 2]}

    async def test_missing_document_is_none(self, store: Store) -> None:
        assert await store.get("people", "nope") is None
        assert await store.find_one("people", {"status": "red"}) is None

    async def test_filters_sort_and_limit(self, store: Store) -> None:
        await store.write([Insert("people", person(n, status=s)) for n, s in enumerate("gyrgg")])
        greens = await store.find("people", {"status": "g"}, sort=[("seen_at", -1)])
        assert [d["_id"] for d in greens] == ["p4", "p3", "p0"]
        window = {"$gte": T0 + timedelta(minutes=1), "$lt": T0 + timedelta(minutes=3)}
        assert {d["_id"] for d in await store.find("people", {"seen_at": window})} == {"p1", "p2"}
        assert await store.count("people", {"status": {"$in": ["y", "r"]}}) == 2
        assert await store.count("people", {"status": {"$ne": "g"}}) == 2
        assert len(await store.find("people", {}, limit=2)) == 2

    async def test_a_find_answers_the_same_for_a_handful_and_for_many(self, store: Store) -> None:
        # SQLite reads a handful reached through an index on the event loop and more on a
        # reader thread, deciding by itself; nothing the caller sees changes.
        many = [person(n, province=n % 2) for n in range(60)]
        await store.write([Insert("people", document) for document in many])
        await store.write([Update("people", "p2", set={"note": "revoked"})])
        for since, expected in ((T0 + timedelta(minutes=50), 5), (T0, 29)):
            where = {"province": 0, "seen_at": {"$gte": since}, "note": None}
            for sort, limit in (((), None), ([("seen_at", -1)], 1), ([("seen_at", 1)], 20)):
                found = await store.find("people", where, sort=sort, limit=limit)
                assert len(found) == min(expected, limit or expected)
                if sort:
                    times = [d["seen_at"] for d in found]
                    assert times == sorted(times, reverse=sort[0][1] < 0)
        oldest_first = await store.find("people", where, sort=[("seen_at", 1)])
        assert [d["_id"] for d in oldest_first[:2]] == ["p0", "p4"]
        assert oldest_first[0]["seen_at"] == T0

    async def test_null_matches_missing_field(self, store: Store) -> None:
        await store.write([Insert("people", person(1)), Insert("people", person(2, note="x"))])
        assert [d["_id"] for d in await store.find("people", {"note": None})] == ["p1"]


class TestTotals:
    async def test_sums_per_group_added_up_by_the_database(self, store: Store) -> None:
        cells = [
            ("d1", 1, "contact", 3),
            ("d1", 1, "entry", 2),
            ("d2", 1, "contact", 4),
            ("d2", 2, "contact", -1),
            ("d3", 2, "contact", 7),
        ]
        await store.write(
            [
                Insert("counters", {"_id": f"c{i}", "day": day, "ward": ward, "why": why, "n": n})
                for i, (day, ward, why, n) in enumerate(cells)
            ]
            + [Insert("counters", {"_id": "no_n", "day": "d1", "ward": 1, "why": "contact"})]
            + [Insert("counters", {"_id": "no_ward", "day": "d1", "why": "entry", "n": 5})]
        )

        def rows(found: list[dict[str, object]]) -> list[tuple[object, ...]]:
            return sorted((tuple(row.values()) for row in found), key=repr)

        by_ward = await store.totals("counters", {"day": {"$lte": "d2"}}, by=("ward",), sum_of="n")
        assert rows(by_ward) == [(1, 9), (2, -1), (None, 5)]
        assert all(list(row) == ["ward", "n"] for row in by_ward)
        two = await store.totals(
            "counters", {"day": {"$gte": "d1"}, "ward": 1}, by=("ward", "why"), sum_of="n"
        )
        assert rows(two) == [(1, "contact", 7), (1, "entry", 2)]
        assert await store.totals("counters", {"ward": 2}, by=(), sum_of="n") == [{"n": 6}]
        assert await store.totals("counters", {"day": "d9"}, by=("ward",), sum_of="n") == []
        assert await store.totals("counters", {"day": "d9"}, by=(), sum_of="n") == []


class TestAtomicBatches:
    async def test_duplicate_unique_key_rolls_back_the_whole_batch(self, store: Store) -> None:
        await store.write([Insert("people", person(1))])
        clash = person(2, id_hash="h1")
        with pytest.raises(DuplicateKey) as raised:
            await store.write([Insert("counters", {"_id": "c", "n": 1}), Insert("people", clash)])
        assert raised.value.collection == "people"
        assert await store.get("counters", "c") is None
        assert await store.get("people", "p2") is None

    async def test_failed_precondition_rolls_back(self, store: Store) -> None:
        await store.write([Insert("people", person(1))])
        with pytest.raises(PreconditionFailed):
            await store.write(
                [
                    Update("counters", "c", inc={"n": 1}, upsert=True),
                    Update(
                        "people",
                        "p1",
                        set={"status": "red"},
                        when={"status": "yellow"},
                        must_match=True,
                    ),
                ]
            )
        assert await store.get("counters", "c") is None
        found = await store.get("people", "p1")
        assert found is not None
        assert found["status"] == "green"

    async def test_compare_and_set_applies_only_when_condition_holds(self, store: Store) -> None:
        await store.write([Insert("people", person(1))])
        assert await store.write(
            [Update("people", "p1", set={"status": "y"}, when={"status": "red"})]
        ) == [0]
        assert await store.write(
            [Update("people", "p1", set={"status": "y"}, when={"status": "green"})]
        ) == [1]
        found = await store.get("people", "p1")
        assert found is not None
        assert found["status"] == "y"

    async def test_update_stores_each_kind_of_value_as_it_reads_back(self, store: Store) -> None:
        await store.write([Insert("people", person(1, flags={"old": 1}, seen=True))])
        values: dict[str, object] = {
            "status": "đỏ",
            "province": 79,
            "score": 0.5,
            "seen": False,
            "note": None,
            "seen_at": T0 + timedelta(days=1),
            "reasons": [{"code": "fever", "status": "yellow"}],
            "flags": {"new": True},
            "address.ward": 26734,
        }
        await store.write([Update("people", "p1", set=values)])
        found = await store.get("people", "p1")
        assert found is not None
        expected = {k: v for k, v in values.items() if k != "address.ward"}
        assert {k: found[k] for k in expected} == expected
        assert found["seen"] is False  # not 0, which compares equal to False
        assert found["address"] == {"ward": 26734}
        assert found["id_hash"] == "h1"  # fields not named are kept

    async def test_upsert_increments_counters(self, store: Store) -> None:
        bump = Update(
            "counters",
            "2026-11-20|1",
            inc={"n": 1},
            set_on_insert={"day": "2026-11-20"},
            upsert=True,
        )
        for _ in range(3):
            await store.write([bump])
        found = await store.get("counters", "2026-11-20|1")
        assert found == {"_id": "2026-11-20|1", "day": "2026-11-20", "n": 3}

    async def test_concurrent_batches_all_land_and_one_failure_stays_alone(
        self, store: Store
    ) -> None:
        await store.write([Insert("people", person(0))])
        batches: list[list[Operation]] = [
            [Insert("people", person(n)), Update("counters", "total", inc={"n": 1}, upsert=True)]
            for n in range(1, 101)
        ]
        batches.append([Insert("people", person(999, id_hash="h0"))])  # clashes with p0
        results = await asyncio.gather(*(store.write(b) for b in batches), return_exceptions=True)
        assert sum(isinstance(r, DuplicateKey) for r in results) == 1
        assert await store.count("people", {}) == 101
        total = await store.get("counters", "total")
        assert total is not None
        assert total["n"] == 100

    async def test_delete_and_expiry(self, store: Store) -> None:
        now = datetime.now(UTC)
        await store.write(
            [
                Insert("people", person(1, expires_at=now - timedelta(seconds=1))),
                Insert("people", person(2, expires_at=now + timedelta(days=1))),
                Insert("people", person(3, status="red")),
            ]
        )
        assert await store.purge_expired(now) == 1
        assert await store.write([Delete("people", {"status": "red"})]) == [1]
        assert [d["_id"] for d in await store.find("people", {})] == ["p2"]


def place(n: int) -> dict[str, object]:
    return {"_id": f"pl{n}", "address": {"ward": n}}


class TestAfterInsert:
    """`Store.after_insert`: what the runtime hangs the report counters' fold on, so that a
    write whose batch leaves counter steps pending never has to ask for the fold itself."""

    async def test_a_committed_insert_calls_back_before_its_write_returns(
        self, store: Store
    ) -> None:
        calls: list[str] = []
        store.after_insert("places", lambda: calls.append("places"))
        await store.write([Insert("people", person(1))])
        assert calls == []
        await store.write([Insert("people", person(2)), Insert("places", place(1))])
        assert calls == ["places"]

    async def test_a_batch_that_fails_calls_back_nothing(self, store: Store) -> None:
        calls: list[str] = []
        store.after_insert("places", lambda: calls.append("places"))
        with pytest.raises(PreconditionFailed):
            await store.write(
                [
                    Insert("places", place(1)),
                    Update("people", "p404", set={"status": "red"}, must_match=True),
                ]
            )
        assert await store.get("places", "pl1") is None
        await store.write([Insert("places", place(2))])
        assert calls == ["places"]
        with pytest.raises(DuplicateKey):
            await store.write([Insert("places", place(2))])
        assert calls == ["places"]

    async def test_updates_and_deletes_call_back_nothing(self, store: Store) -> None:
        await store.write([Insert("places", place(1))])
        calls: list[str] = []
        store.after_insert("places", lambda: calls.append("places"))
        await store.write([Update("places", "pl1", set={"name": "Chợ"})])
        await store.write([Update("places", "pl2", set={"name": "Ga"}, upsert=True)])
        await store.write([Delete("places", {"_id": "pl1"})])
        assert calls == []

    async def test_each_of_many_writes_at_once_is_called_back_for_before_it_returns(
        self, store: Store
    ) -> None:
        """Writes that commit together (SQLite's group commit) may share one call, but none
        returns before the call that covers it; the one that fails does not hold it up."""
        calls: list[str] = []
        store.after_insert("places", lambda: calls.append("places"))
        await store.write([Insert("people", person(1))])

        async def insert(n: int) -> bool:
            before = len(calls)
            await store.write([Insert("places", place(n))])
            return len(calls) > before

        async def fail() -> None:
            await store.write([Insert("places", place(99)), Insert("people", person(1))])

        *called, failed = await asyncio.gather(
            *(insert(n) for n in range(8)), fail(), return_exceptions=True
        )
        assert called == [True] * 8
        assert isinstance(failed, DuplicateKey)
        assert 1 <= len(calls) <= 8
        assert await store.get("places", "pl99") is None

    async def test_a_callback_that_fails_does_not_fail_the_committed_write(
        self, store: Store
    ) -> None:
        calls: list[str] = []

        def broken() -> None:
            raise RuntimeError("a bug in a callback")

        store.after_insert("places", broken)
        store.after_insert("places", lambda: calls.append("places"))
        assert await store.write([Insert("places", place(1))]) == [1]
        assert calls == ["places"]
        assert await store.get("places", "pl1") is not None

    async def test_an_unknown_collection_is_refused(self, store: Store) -> None:
        with pytest.raises(ValueError, match="unknown collection"):
            store.after_insert("plaices", lambda: None)


class TestIndexedFieldsFollowUpdates:
    """Indexed fields are what lookups go by: after any kind of update a document must be
    found by its new value and no longer by its old one."""

    async def test_set_fields_are_found_by_their_new_values(self, store: Store) -> None:
        await store.write([Insert("people", person(1)), Insert("people", person(2))])
        await store.write([Update("people", "p1", set={"status": "red", "id_hash": "h9"})])
        assert [d["_id"] for d in await store.find("people", {"status": "red"})] == ["p1"]
        assert [d["_id"] for d in await store.find("people", {"status": "green"})] == ["p2"]
        found = await store.find_one("people", {"id_hash": "h9"})
        assert found is not None
        assert found["_id"] == "p1"
        assert await store.find_one("people", {"id_hash": "h1"}) is None
        with pytest.raises(DuplicateKey):  # the unique index holds on the new value
            await store.write([Update("people", "p2", set={"id_hash": "h9"})])

    async def test_increments_and_upserts_are_found_by_range(self, store: Store) -> None:
        day = {"day": "2026-11-20"}
        bump = Update("counters", "a", inc={"n": 1}, set_on_insert=day, upsert=True)
        for _ in range(3):
            await store.write([bump])
        await store.write([Update("counters", "b", inc={"n": 1}, set_on_insert=day, upsert=True)])
        busy = await store.find("counters", {"day": "2026-11-20", "n": {"$gte": 2}})
        assert [d["_id"] for d in busy] == ["a"]
        ordered = await store.find("counters", {}, sort=[("n", -1)])
        assert [d["_id"] for d in ordered] == ["a", "b"]

    async def test_a_parent_replaced_moves_the_indexed_field_below_it(self, store: Store) -> None:
        await store.write([Insert("places", {"_id": "m", "address": {"ward": 1, "street": "x"}})])
        await store.write([Update("places", "m", set={"address": {"ward": 2}})])
        assert await store.find("places", {"address.ward": 1}) == []
        assert [d["_id"] for d in await store.find("places", {"address.ward": 2})] == ["m"]
        await store.write([Update("places", "m", set={"address.ward": 3})])
        assert [d["_id"] for d in await store.find("places", {"address.ward": 3})] == ["m"]

    async def test_expiry_follows_a_changed_expiry_date(self, store: Store) -> None:
        now = datetime.now(UTC)
        await store.write([Insert("people", person(1, expires_at=now + timedelta(days=1)))])
        await store.write([Update("people", "p1", set={"expires_at": now - timedelta(seconds=1)})])
        assert await store.purge_expired(now) == 1
        assert await store.get("people", "p1") is None


def answer(n: int, title: str, body: str = "", **fields: object) -> dict[str, object]:
    return {"_id": f"a{n}", "title": title, "body": body, "category": "qr", "state": "on", **fields}


async def ids(store: Store, text: str, **options: object) -> list[str]:
    found = await store.search("answers", text, **options)  # type: ignore[arg-type]
    return [d["_id"] for d in found]


class TestTextSearch:
    """`Store.search`: the same words find the same documents on every adapter. Only
    orderings every reasonable relevance measure agrees on are asserted; the scores
    themselves differ (bm25 on SQLite, textScore on MongoDB)."""

    async def test_diacritics_case_and_d_with_stroke_are_ignored_both_ways(
        self, store: Store
    ) -> None:
        await store.write(
            [
                Insert("answers", answer(1, "Khai báo y tế", "Điền tờ khai trên ứng dụng")),
                Insert("answers", answer(2, "Mã QR là gì?", "Mã dùng để quét")),
                Insert("answers", answer(3, "dang ky tiem chung", "khong dau")),
            ]
        )
        assert await ids(store, "khai bao y te") == ["a1"]
        assert await ids(store, "KHAI BÁO Y TẾ") == ["a1"]
        assert await ids(store, "ma QR") == ["a2"]
        assert await ids(store, "dien") == ["a1"]  # Điền, in the body
        assert await ids(store, "ĐĂNG KÝ") == ["a3"]  # folded query, plain text
        assert await ids(store, "kha") == []  # whole words only

    async def test_every_vietnamese_vowel_folds_to_its_base_letter(self, store: Store) -> None:
        vowels = {
            "a": "aàáảãạăằắẳẵặâầấẩẫậ",
            "e": "eèéẻẽẹêềếểễệ",
            "o": "oòóỏõọôồốổỗộơờớởỡợ",
            "u": "uùúủũụưừứửữự",
            "y": "yỳýỷỹỵ",
            "i": "iìíỉĩị",
        }
        docs = [
            answer(n, " ".join(f"x{v}x" for v in letters + letters.upper()))
            for n, letters in enumerate(vowels.values())
        ]
        await store.write([Insert("answers", d) for d in docs])
        for n, base in enumerate(vowels):
            assert await ids(store, f"x{base}x") == [f"a{n}"]

    async def test_more_of_the_words_and_words_in_the_title_rank_first(self, store: Store) -> None:
        filler = " ".join(["thông tin chung"] * 3)
        await store.write(
            [
                Insert("answers", answer(1, "Khai báo", f"{filler} hộ")),
                Insert("answers", answer(2, "Tôi khai báo hộ bố mẹ được không?", filler)),
                Insert("answers", answer(3, "Bố mẹ", filler)),
                Insert("answers", answer(4, "Lịch tiêm", f"{filler} bố")),
                Insert("answers", answer(5, "Bố", filler)),
            ]
        )
        found = await ids(store, "khai bao ho bo me")
        assert found[0] == "a2"
        assert set(found) == {"a1", "a2", "a3", "a4", "a5"}
        # The same word in a title (weight 3) outranks it in a body of the same length.
        assert (await ids(store, "bo"))[-1] == "a4"

    async def test_filter_and_limit(self, store: Store) -> None:
        await store.write(
            [
                Insert("answers", answer(1, "Mã QR", state="off")),
                Insert("answers", answer(2, "Mã QR cá nhân", category="other")),
                Insert("answers", answer(3, "Quét mã QR")),
                Insert("answers", answer(4, "Mã QR")),
            ]
        )
        assert set(await ids(store, "ma qr", where={"state": "on"})) == {"a2", "a3", "a4"}
        assert await ids(store, "ma qr", where={"state": "on", "category": "other"}) == ["a2"]
        assert len(await ids(store, "ma qr", limit=2)) == 2
        assert await ids(store, "ma qr", where={"_id": {"$in": ["a1", "a9"]}}) == ["a1"]

    async def test_documents_read_back_as_written(self, store: Store) -> None:
        written = answer(1, "Đăng ký", "Nội dung")
        await store.write([Insert("answers", written)])
        assert await store.search("answers", "dang ky") == [written]
        assert await store.get("answers", "a1") == written
        assert await store.find("answers", {}) == [written]

    async def test_a_query_without_words_finds_nothing(self, store: Store) -> None:
        await store.write([Insert("answers", answer(1, "Khai báo"))])
        for text in ("", "   ", "?!", '"-*', "NEAR(", "title:khai"):
            found = await ids(store, text)
            assert found in ([], ["a1"])  # `title:khai` is the word khai, nothing else
        assert await ids(store, "") == []
        assert await ids(store, '"-*') == []


class TestTextIndexFollowsWrites:
    """The index changes in the same atomic batch as the document it describes."""

    async def test_updates_move_a_document_to_its_new_words(self, store: Store) -> None:
        await store.write([Insert("answers", answer(1, "Khai báo"))])
        await store.write([Update("answers", "a1", set={"title": "Đăng ký", "state": "off"})])
        assert await ids(store, "khai") == []
        assert await ids(store, "dang ky") == ["a1"]
        await store.write([Update("answers", "a1", set={"state": "on"})])  # words unchanged
        assert await ids(store, "dang ky", where={"state": "on"}) == ["a1"]
        await store.write([Update("answers", "a1", set={"body": "Tiêm chủng"})])
        assert await ids(store, "tiem") == ["a1"]
        assert await ids(store, "dang") == ["a1"]

    async def test_upsert_and_delete(self, store: Store) -> None:
        await store.write(
            [
                Update(
                    "answers",
                    "a7",
                    set={"title": "Cách ly"},
                    set_on_insert={"body": "tại nhà"},
                    upsert=True,
                )
            ]
        )
        assert await ids(store, "cach ly tai nha") == ["a7"]
        await store.write([Delete("answers", {"_id": "a7"})])
        assert await ids(store, "cach ly") == []
        await store.write([Insert("answers", answer(7, "Xét nghiệm"))])  # the id again
        assert await ids(store, "xet nghiem") == ["a7"]
        assert await ids(store, "cach ly") == []

    async def test_a_failed_batch_leaves_no_words_behind(self, store: Store) -> None:
        await store.write([Insert("answers", answer(1, "Khai báo"))])
        with pytest.raises(DuplicateKey):
            await store.write(
                [
                    Update("answers", "a1", set={"title": "Cách ly"}),
                    Insert("answers", answer(2, "Tiêm chủng")),
                    Insert("answers", answer(1, "Trùng")),
                ]
            )
        assert await ids(store, "khai bao") == ["a1"]
        assert await ids(store, "cach ly tiem chung trung") == []

    async def test_many_concurrent_batches_are_all_found(self, store: Store) -> None:
        batches = [[Insert("answers", answer(n, f"Câu hỏi số {n}", "về mã QR"))] for n in range(60)]
        await asyncio.gather(*(store.write(b) for b in batches))
        await store.write([Delete("answers", {"_id": {"$in": [f"a{n}" for n in range(30)]}})])
        assert len(await ids(store, "ma qr", limit=100)) == 30
        assert await ids(store, "so 45") == ["a45"] or "a45" in await ids(store, "so 45")

"""The storage contract, reads and writes: lookups, totals, atomic batches, the after-insert
callback and indexed fields after updates. Run unchanged on SQLite (a real file) and MongoDB
(a real server when KHAIBAO_TEST_MONGODB_URL is set, else the wire-protocol stand-in driven
by the real PyMongo async client), through the `store` fixture of conftest.py."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from core.storage import Delete, DuplicateKey, Insert, Operation, PreconditionFailed, Store, Update
from tests.core.conftest import T0, person


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


class TestPartialIndexes:
    """`counters` has an index by (checkpoint, day) that holds only the counters with a
    checkpoint (`Index.only_with`): the others are still found by every other query, and a
    query by checkpoint finds exactly the counters that have one, as writes change them."""

    async def test_documents_without_the_field_are_found_by_other_queries(
        self, store: Store
    ) -> None:
        await store.write(_counters())
        assert await _ids(store, {"day": "2026-11-20"}) == {"d1", "c1"}
        assert await _ids(store, {"checkpoint": None}) == {"d1", "d2"}
        assert await _ids(store, {"checkpoint": {"$ne": "cp1"}}) == {"d1", "d2", "c2"}
        assert await store.count("counters", {"n": {"$gte": 1}}) == 4
        totals = await store.totals("counters", {}, by=["checkpoint"], sum_of="n")
        assert sorted((t["checkpoint"] or "", t["n"]) for t in totals) == [
            ("", 5),
            ("cp1", 2),
            ("cp2", 3),
        ]

    async def test_queries_by_the_field_find_exactly_the_documents_with_it(
        self, store: Store
    ) -> None:
        await store.write(_counters())
        days = {"$gte": "2026-11-20", "$lte": "2026-11-21"}
        assert await _ids(store, {"checkpoint": "cp1", "day": days}) == {"c1"}
        assert await _ids(store, {"checkpoint": {"$in": ["cp1", "cp2", "cp9"]}}) == {"c1", "c2"}
        assert await _ids(store, {"checkpoint": {"$gte": "cp"}}) == {"c1", "c2"}
        assert await store.count("counters", {"checkpoint": "cp2", "day": "2026-11-21"}) == 1

    async def test_a_document_moves_in_and_out_of_it_with_its_field(self, store: Store) -> None:
        await store.write(_counters())
        await store.write(
            [
                Update("counters", "d1", set={"checkpoint": "cp1"}),
                Update("counters", "c2", set={"checkpoint": None}, inc={"n": 1}),
                Update(
                    "counters",
                    "c3",
                    inc={"n": 1},
                    set_on_insert={"day": "2026-11-21", "checkpoint": "cp1"},
                    upsert=True,
                ),
            ]
        )
        assert await _ids(store, {"checkpoint": "cp1"}) == {"c1", "c3", "d1"}
        assert await _ids(store, {"checkpoint": {"$in": ["cp2"]}}) == set()
        assert await _ids(store, {"checkpoint": None}) == {"c2", "d2"}
        await store.write([Delete("counters", {"checkpoint": "cp1", "day": "2026-11-20"})])
        assert await _ids(store, {"checkpoint": "cp1"}) == {"c3"}
        assert await _ids(store, {"day": "2026-11-20"}) == set()


def _counters() -> list[Operation]:
    """Two counters without a checkpoint and two with one."""
    return [
        Insert("counters", {"_id": "d1", "day": "2026-11-20", "n": 1}),
        Insert("counters", {"_id": "c1", "day": "2026-11-20", "checkpoint": "cp1", "n": 2}),
        Insert("counters", {"_id": "c2", "day": "2026-11-21", "checkpoint": "cp2", "n": 3}),
        Insert("counters", {"_id": "d2", "day": "2026-11-21", "n": 4}),
    ]


async def _ids(store: Store, where: dict[str, object]) -> set[str]:
    return {str(d["_id"]) for d in await store.find("counters", where)}


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

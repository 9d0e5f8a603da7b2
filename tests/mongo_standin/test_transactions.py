"""Transactions through the real PyMongo driver (sync and async): commit, abort,
write conflicts, and what other sessions see meanwhile.

When ``KHAIBAO_TEST_MONGODB_URL`` is set these tests run against that server instead, which
checks that the stand-in's behaviour matches mongod's.
"""

from __future__ import annotations

import pytest
from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError, OperationFailure
from pymongo.synchronous.database import Database

from tests.mongo_standin.conftest import Doc, async_db


def test_sync_transaction_abort_restores_prior_state(db: Database[Doc]) -> None:
    db.accounts.insert_many([{"_id": 1, "bal": 100}, {"_id": 2, "bal": 50}])
    db.accounts.insert_one({"_id": 3, "bal": 0})  # creates the collection before the txn
    with db.client.start_session() as session:
        session.start_transaction()
        db.accounts.update_one({"_id": 1}, {"$inc": {"bal": -30}}, session=session)
        db.accounts.delete_one({"_id": 3}, session=session)
        db.accounts.insert_one({"_id": 4, "bal": 30}, session=session)
        session.abort_transaction()
    docs = list(db.accounts.find().sort("_id", 1))
    assert docs == [{"_id": 1, "bal": 100}, {"_id": 2, "bal": 50}, {"_id": 3, "bal": 0}]


def test_concurrent_transactions_get_write_conflict(db: Database[Doc]) -> None:
    db.acc.insert_one({"_id": 1, "bal": 0})
    with db.client.start_session() as first, db.client.start_session() as second:
        first.start_transaction()
        second.start_transaction()
        db.acc.update_one({"_id": 1}, {"$inc": {"bal": 1}}, session=first)
        with pytest.raises(OperationFailure) as info:
            db.acc.update_one({"_id": 1}, {"$inc": {"bal": 10}}, session=second)
        assert info.value.code == 112
        assert info.value.has_error_label("TransientTransactionError")
        second.abort_transaction()
        first.commit_transaction()
    assert db.acc.find_one({"_id": 1}) == {"_id": 1, "bal": 1}


def test_an_update_that_changes_nothing_meets_no_conflict(db: Database[Doc]) -> None:
    """A matched document left as it was (a bare precondition: `$setOnInsert` without
    upsert) is not written, so another transaction may delete it meanwhile: only writes
    meet writes."""
    db.acc.insert_one({"_id": 1, "bal": 0})
    with db.client.start_session() as first, db.client.start_session() as second:
        first.start_transaction()
        second.start_transaction()
        matched = db.acc.update_one({"_id": 1}, {"$setOnInsert": {"_id": 1}}, session=first)
        assert (matched.matched_count, matched.modified_count) == (1, 0)
        assert db.acc.delete_one({"_id": 1}, session=second).deleted_count == 1
        second.commit_transaction()
        first.commit_transaction()
    assert db.acc.find_one({"_id": 1}) is None


@pytest.mark.asyncio
async def test_async_transaction_commits_atomically(mongo_url: str, db_name: str) -> None:
    async with async_db(mongo_url, db_name) as adb:
        await adb.create_collection("orders")
        await adb.create_collection("stock")
        await adb.stock.insert_one({"_id": "mask", "qty": 10})
        async with adb.client.start_session() as s, await s.start_transaction():
            await adb.orders.insert_one({"_id": "o1", "item": "mask", "qty": 3}, session=s)
            await adb.stock.update_one({"_id": "mask"}, {"$inc": {"qty": -3}}, session=s)
            doc = await adb.orders.find_one({"_id": "o1"}, session=s)
            assert doc is not None
        assert await adb.orders.count_documents({}) == 1
        assert await adb.stock.find_one({"_id": "mask"}) == {"_id": "mask", "qty": 7}


@pytest.mark.asyncio
async def test_async_transaction_aborts_on_duplicate_key(mongo_url: str, db_name: str) -> None:
    async with async_db(mongo_url, db_name) as adb:
        await adb.people.create_index("cccd", unique=True)
        await adb.people.insert_many(
            [{"_id": 1, "cccd": "001", "v": 1}, {"_id": 2, "cccd": "002", "v": 1}]
        )

        async def register_twice() -> None:
            async with adb.client.start_session() as s, await s.start_transaction():
                await adb.people.insert_one({"_id": 3, "cccd": "003"}, session=s)
                await adb.people.update_one({"_id": 1}, {"$set": {"v": 2}}, session=s)
                await adb.people.delete_one({"_id": 2}, session=s)
                await adb.people.insert_one({"_id": 4, "cccd": "001"}, session=s)

        with pytest.raises(DuplicateKeyError):
            await register_twice()
        docs = await adb.people.find({}, {"cccd": 1, "v": 1}).sort("_id", 1).to_list()
        assert docs == [{"_id": 1, "cccd": "001", "v": 1}, {"_id": 2, "cccd": "002", "v": 1}]


@pytest.mark.asyncio
async def test_async_session_ending_without_commit_rolls_back(mongo_url: str, db_name: str) -> None:
    async with async_db(mongo_url, db_name) as adb:
        await adb.create_collection("notes")
        async with adb.client.start_session() as s:
            await s.start_transaction()
            await adb.notes.insert_one({"text": "draft"}, session=s)
        assert await adb.notes.count_documents({}) == 0


class TestIsolationLikeAServer:
    """What mongod does with two sessions at once (issue 26, finding 5)."""

    def test_an_uncommitted_insert_is_invisible_to_other_sessions(self, db: Database[Doc]) -> None:
        db.people.insert_one({"_id": "old"})
        with db.client.start_session() as session:
            session.start_transaction()
            db.people.insert_one({"_id": "new"}, session=session)
            db.people.update_one({"_id": "old"}, {"$set": {"seen": True}}, session=session)
            assert db.people.find_one({"_id": "new"}) is None
            assert db.people.find_one({"_id": "old"}) == {"_id": "old"}
            assert db.people.count_documents({}) == 1
            assert db.people.find_one({"_id": "new"}, session=session) == {"_id": "new"}
            session.commit_transaction()
        assert db.people.count_documents({}) == 2

    def test_two_transactions_inserting_one_id_meet_a_write_conflict_not_a_duplicate(
        self, db: Database[Doc]
    ) -> None:
        db.people.insert_one({"_id": "x"})  # the collection exists before the transactions
        with db.client.start_session() as first, db.client.start_session() as second:
            first.start_transaction()
            second.start_transaction()
            db.people.insert_one({"_id": "p1"}, session=first)
            with pytest.raises(OperationFailure) as info:
                db.people.insert_one({"_id": "p1"}, session=second)
            assert info.value.code == 112
            assert info.value.has_error_label("TransientTransactionError")
            first.commit_transaction()

    def test_a_unique_index_clash_with_an_uncommitted_document_is_a_write_conflict(
        self, db: Database[Doc]
    ) -> None:
        db.people.create_index([("phone", ASCENDING)], unique=True)
        with db.client.start_session() as first, db.client.start_session() as second:
            first.start_transaction()
            second.start_transaction()
            db.people.insert_one({"_id": "a", "phone": "1"}, session=first)
            with pytest.raises(OperationFailure) as info:
                db.people.insert_one({"_id": "b", "phone": "1"}, session=second)
            assert info.value.code == 112
            first.commit_transaction()

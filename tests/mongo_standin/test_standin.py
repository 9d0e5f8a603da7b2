"""Drive the MongoDB stand-in through the real PyMongo driver (sync and async).

When ``KHAIBAO_TEST_MONGODB_URL`` is set these tests run against that server instead, which
checks that the stand-in's behaviour matches mongod's; tests of stand-in internals are skipped.
"""

from __future__ import annotations

import datetime
import os
import socket
import struct
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import bson
import pytest
from pymongo import (
    ASCENDING,
    DESCENDING,
    AsyncMongoClient,
    MongoClient,
    ReturnDocument,
    WriteConcern,
)
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure
from pymongo.monitoring import (
    CommandFailedEvent,
    CommandListener,
    CommandStartedEvent,
    CommandSucceededEvent,
)
from pymongo.synchronous.database import Database

from tests.mongo_standin import ENV_VAR, MongoStandin, mongodb_test_url

Doc = dict[str, Any]
UTC = datetime.UTC
T0 = datetime.datetime(2025, 3, 1, 8, 30, 15, 123000, tzinfo=UTC)
REPO_ROOT = Path(__file__).resolve().parents[2]
standin_only = pytest.mark.skipif(
    bool(os.environ.get(ENV_VAR)), reason="inspects the stand-in itself"
)


class _Recorder(CommandListener):
    def __init__(self) -> None:
        self.names: list[str] = []

    def started(self, event: CommandStartedEvent) -> None:
        self.names.append(event.command_name)

    def succeeded(self, event: CommandSucceededEvent) -> None:
        pass

    def failed(self, event: CommandFailedEvent) -> None:
        pass


@pytest.fixture(scope="module")
def mongo_url() -> Iterator[str]:
    with mongodb_test_url() as url:
        yield url


@pytest.fixture
def db_name() -> str:
    return f"standin_test_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def recorder() -> _Recorder:
    return _Recorder()


@pytest.fixture
def db(mongo_url: str, db_name: str, recorder: _Recorder) -> Iterator[Database[Doc]]:
    client: MongoClient[Doc] = MongoClient(
        mongo_url, tz_aware=True, serverSelectionTimeoutMS=5000, event_listeners=[recorder]
    )
    try:
        yield client[db_name]
    finally:
        client.drop_database(db_name)
        client.close()


@asynccontextmanager
async def async_db(url: str, name: str) -> AsyncIterator[AsyncDatabase[Doc]]:
    client: AsyncMongoClient[Doc] = AsyncMongoClient(
        url, tz_aware=True, serverSelectionTimeoutMS=5000
    )
    try:
        yield client[name]
    finally:
        await client.drop_database(name)
        await client.close()


# -- sync driver ---------------------------------------------------------------------------


def test_insert_find_round_trip_keeps_tz_aware_datetimes(db: Database[Doc]) -> None:
    result = db.events.insert_one({"name": "a", "at": T0, "tags": ["x", "y"], "n": 2**40})
    doc = db.events.find_one({"_id": result.inserted_id})
    assert doc is not None
    assert doc["at"] == T0
    assert doc["at"].utcoffset() == datetime.timedelta(0)
    assert doc["tags"] == ["x", "y"]
    assert doc["n"] == 2**40
    # A non-UTC aware datetime is stored as the same instant.
    later = T0.astimezone(datetime.timezone(datetime.timedelta(hours=7)))
    db.events.insert_one({"name": "b", "at": later})
    assert db.events.count_documents({"at": T0}) == 2


def test_unique_index_raises_duplicate_key(db: Database[Doc]) -> None:
    db.users.create_index("email", unique=True)
    db.users.insert_one({"email": "a@example.vn"})
    with pytest.raises(DuplicateKeyError) as info:
        db.users.insert_one({"email": "a@example.vn"})
    assert info.value.code == 11000
    with pytest.raises(BulkWriteError) as bulk:
        db.users.insert_many([{"email": "b@example.vn"}, {"email": "a@example.vn"}, {"x": 1}])
    assert bulk.value.details["nInserted"] == 1
    assert [e["code"] for e in bulk.value.details["writeErrors"]] == [11000]
    assert db.users.count_documents({}) == 2


def test_upsert_with_inc_set_and_set_on_insert(db: Database[Doc]) -> None:
    first_seen, later = T0, T0 + datetime.timedelta(minutes=5)
    update = {"$inc": {"hits": 1}, "$set": {"last": first_seen}, "$setOnInsert": {"first": T0}}
    created = db.counters.update_one({"key": "k1"}, update, upsert=True)
    assert created.upserted_id is not None
    assert created.matched_count == 0
    update = {"$inc": {"hits": 1}, "$set": {"last": later}, "$setOnInsert": {"first": later}}
    again = db.counters.update_one({"key": "k1"}, update, upsert=True)
    assert again.upserted_id is None
    assert (again.matched_count, again.modified_count) == (1, 1)
    doc = db.counters.find_one({"key": "k1"}, {"_id": 0})
    assert doc == {"key": "k1", "hits": 2, "last": later, "first": T0}
    many = db.counters.update_many({}, {"$set": {"flag": True}})
    assert (many.matched_count, many.modified_count) == (1, 1)
    replaced = db.counters.replace_one({"key": "k1"}, {"key": "k1", "hits": 0})
    assert replaced.modified_count == 1
    assert db.counters.find_one({"key": "k1"}, {"_id": 0}) == {"key": "k1", "hits": 0}


def test_id_lookups_still_apply_the_rest_of_the_filter(db: Database[Doc]) -> None:
    db.cas.insert_many([{"_id": 1, "v": 1}, {"_id": "1", "v": 1}, {"_id": 2.0, "v": 2}])
    assert db.cas.update_one({"_id": 1, "v": 2}, {"$set": {"v": 3}}).matched_count == 0
    assert db.cas.update_one({"_id": 1, "v": 1}, {"$set": {"v": 3}}).modified_count == 1
    assert db.cas.find_one({"_id": "1"}) == {"_id": "1", "v": 1}
    assert db.cas.find_one({"_id": 2}) == {"_id": 2.0, "v": 2}
    assert sorted(d["v"] for d in db.cas.find({"_id": {"$in": [1, 2]}})) == [2, 3]
    assert db.cas.count_documents({"_id": 99}) == 0


def test_find_with_range_in_sort_and_limit(db: Database[Doc]) -> None:
    kinds = ["entry", "exit", "other"]
    db.scans.insert_many(
        [{"i": i, "kind": kinds[i % 3], "at": T0 + datetime.timedelta(hours=i)} for i in range(30)]
    )
    query = {
        "at": {"$gte": T0 + datetime.timedelta(hours=5), "$lt": T0 + datetime.timedelta(hours=20)},
        "kind": {"$in": ["entry", "exit"]},
    }
    got = [d["i"] for d in db.scans.find(query).sort("at", DESCENDING).limit(4)]
    assert got == [19, 18, 16, 15]
    got = [d["i"] for d in db.scans.find(query, {"i": 1}).sort([("kind", ASCENDING), ("i", -1)])]
    assert got == [18, 15, 12, 9, 6, 19, 16, 13, 10, 7]
    assert [d["i"] for d in db.scans.find({}).sort("i", 1).skip(28)] == [28, 29]


def test_cursor_larger_than_first_batch_uses_get_more(
    db: Database[Doc], recorder: _Recorder
) -> None:
    db.bulk.insert_many([{"i": i} for i in range(250)])
    assert [d["i"] for d in db.bulk.find().sort("i", 1)] == list(range(250))
    assert [d["i"] for d in db.bulk.find().sort("i", 1).batch_size(40)] == list(range(250))
    assert recorder.names.count("getMore") >= 1 + 6
    limited = list(db.bulk.find().sort("i", 1).batch_size(7).limit(20))
    assert [d["i"] for d in limited] == list(range(20))
    cursor = db.bulk.find().batch_size(10)
    next(cursor)
    cursor.close()  # killCursors for the open server cursor
    assert "killCursors" in recorder.names


def test_count_documents_and_delete_many(db: Database[Doc]) -> None:
    db.items.insert_many([{"i": i, "even": i % 2 == 0} for i in range(11)])
    assert db.items.count_documents({}) == 11
    assert db.items.count_documents({"even": True}) == 6
    assert db.items.count_documents({"i": {"$gt": 2}}, skip=2, limit=3) == 3
    assert db.items.estimated_document_count() == 11
    assert db.items.delete_many({"even": True}).deleted_count == 6
    assert db.items.delete_one({"i": {"$gte": 0}}).deleted_count == 1
    assert db.items.count_documents({}) == 4
    assert sorted(db.items.distinct("i")) == [3, 5, 7, 9]


def test_find_one_and_update(db: Database[Doc]) -> None:
    db.seq.insert_one({"_id": "ticket", "n": 10})
    after = db.seq.find_one_and_update(
        {"_id": "ticket"}, {"$inc": {"n": 1}}, return_document=ReturnDocument.AFTER
    )
    assert after == {"_id": "ticket", "n": 11}
    before = db.seq.find_one_and_update({"_id": "ticket"}, {"$inc": {"n": 1}})
    assert before == {"_id": "ticket", "n": 11}
    fresh = db.seq.find_one_and_update(
        {"_id": "other"},
        {"$setOnInsert": {"n": 1}},
        upsert=True,
        return_document=ReturnDocument.AFTER,
        projection={"_id": 0},
    )
    assert fresh == {"n": 1}
    assert db.seq.find_one_and_update({"_id": "none"}, {"$set": {"n": 0}}) is None
    db.seq.insert_many([{"q": 1, "v": 3}, {"q": 1, "v": 1}])
    lowest = db.seq.find_one_and_delete({"q": 1}, sort=[("v", ASCENDING)])
    assert lowest is not None
    assert lowest["v"] == 1
    assert db.seq.count_documents({"q": 1}) == 1


def test_aggregate_match_group(db: Database[Doc]) -> None:
    rows = [("hn", 3), ("hn", 4), ("hcm", 10), ("dn", 1), ("hcm", 5)]
    db.decl.insert_many([{"province": p, "count": c} for p, c in rows])
    pipeline: list[Doc] = [
        {"$match": {"count": {"$gte": 2}}},
        {"$group": {"_id": "$province", "total": {"$sum": "$count"}, "docs": {"$sum": 1}}},
        {"$sort": {"total": -1}},
    ]
    assert list(db.decl.aggregate(pipeline)) == [
        {"_id": "hcm", "total": 15, "docs": 2},
        {"_id": "hn", "total": 7, "docs": 2},
    ]


def test_create_indexes_including_ttl(db: Database[Doc]) -> None:
    assert db.sessions.create_index("expiresAt", expireAfterSeconds=3600) == "expiresAt_1"
    name = db.sessions.create_index([("user", ASCENDING), ("at", DESCENDING)], name="user_at")
    assert name == "user_at"
    info = db.sessions.index_information()
    assert set(info) == {"_id_", "expiresAt_1", "user_at"}
    assert info["expiresAt_1"]["expireAfterSeconds"] == 3600
    assert info["user_at"]["key"] == [("user", 1), ("at", -1)]
    db.sessions.drop_index("user_at")
    assert set(db.sessions.index_information()) == {"_id_", "expiresAt_1"}


def test_text_index_search_score_and_sort(db: Database[Doc]) -> None:
    db.faq.create_index(
        [("title", "text"), ("body", "text")],
        weights={"title": 3},
        default_language="none",
        name="faq_text",
    )
    db.faq.insert_many(
        [
            {"_id": 1, "title": "Khai báo y tế", "body": "hộ bố mẹ", "on": True},
            {"_id": 2, "title": "Mã QR", "body": "khai báo xong thì quét", "on": True},
            {"_id": 3, "title": "Đăng ký", "body": "khai", "on": False},
        ]
    )
    info = db.faq.index_information()
    assert {k for k, _ in info["faq_text"]["key"]} == {"_fts", "_ftsx"}
    assert info["faq_text"]["weights"] == {"title": 3, "body": 1}
    found = list(
        db.faq.find(
            {"$text": {"$search": "KHAI bao"}, "on": True},
            {"score": {"$meta": "textScore"}, "body": 0},
        ).sort([("score", {"$meta": "textScore"})])
    )
    assert [d["_id"] for d in found] == [1, 2]  # in the title (weight 3) first
    assert found[0]["score"] > found[1]["score"] > 0
    assert "body" not in found[0]
    # Diacritics are folded by decomposition, as on mongod: đ is not d.
    assert db.faq.count_documents({"_id": 3}) == 1
    assert list(db.faq.find({"$text": {"$search": "dang"}})) == []
    assert [d["_id"] for d in db.faq.find({"$text": {"$search": "đăng"}})] == [3]


def test_text_query_needs_a_text_index(db: Database[Doc]) -> None:
    db.plain.insert_one({"_id": 1, "title": "x"})
    with pytest.raises(OperationFailure) as info:
        list(db.plain.find({"$text": {"$search": "x"}}))
    assert info.value.code == 27


@standin_only
def test_text_features_the_standin_lacks_are_refused(db: Database[Doc]) -> None:
    with pytest.raises(OperationFailure):
        db.en.create_index([("title", "text")], default_language="english")
    db.faq.create_index([("title", "text")], default_language="none")
    with pytest.raises(OperationFailure) as info:
        list(db.faq.find({"$text": {"$search": '"exact phrase"'}}))
    assert info.value.code == 238


def test_collections_and_databases(db: Database[Doc]) -> None:
    db.create_collection("made")
    db.other.insert_one({"x": 1})
    assert {"made", "other"} <= set(db.list_collection_names())
    assert db.name in db.client.list_database_names()
    db.drop_collection("made")
    assert "made" not in db.list_collection_names()
    with pytest.raises(OperationFailure) as info:
        db.command("noSuchCommandAnywhere")
    assert info.value.code == 59


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


def test_unacknowledged_write_is_applied(db: Database[Doc]) -> None:
    fire_and_forget = db.get_collection("quiet", write_concern=WriteConcern(w=0))
    assert not fire_and_forget.insert_one({"_id": "q"}).acknowledged
    assert db.quiet.find_one({"_id": "q"}) == {"_id": "q"}


# -- async driver --------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_async_crud_and_get_more(mongo_url: str, db_name: str) -> None:
    async with async_db(mongo_url, db_name) as adb:
        await adb.log.insert_many([{"i": i, "at": T0} for i in range(150)])
        seen = [d["i"] async for d in adb.log.find({"i": {"$lt": 120}}).sort("i", 1)]
        assert seen == list(range(120))
        assert await adb.log.count_documents({"at": T0}) == 150
        doc = await adb.log.find_one({"i": 7})
        assert doc is not None
        assert doc["at"] == T0
        assert doc["at"].tzinfo is not None
        grouped = await (
            await adb.log.aggregate([{"$group": {"_id": None, "sum": {"$sum": "$i"}}}])
        ).to_list()
        assert grouped == [{"_id": None, "sum": sum(range(150))}]
        assert (await adb.log.delete_many({"i": {"$gte": 100}})).deleted_count == 50


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


# -- stand-in specifics --------------------------------------------------------------------


@standin_only
def test_hello_reports_single_member_replica_set(db: Database[Doc]) -> None:
    hello = db.client.admin.command("hello")
    assert hello["isWritablePrimary"] is True
    assert hello["setName"] == "rs0"
    assert hello["maxWireVersion"] == 25  # MongoDB 8.0: client bulkWrite
    assert hello["hosts"] == [hello["me"]] == [hello["primary"]]


@standin_only
def test_ttl_index_is_reported_but_never_enforced(db: Database[Doc]) -> None:
    db.otp.create_index("expiresAt", expireAfterSeconds=0)
    db.otp.insert_one({"_id": "old", "expiresAt": T0 - datetime.timedelta(days=365)})
    assert db.otp.index_information()["expiresAt_1"]["expireAfterSeconds"] == 0
    assert db.otp.count_documents({}) == 1


@standin_only
def test_op_query_handshake_gets_op_reply() -> None:
    with MongoStandin() as standin, socket.create_connection(("127.0.0.1", standin.port)) as s:
        query = bson.encode({"isMaster": 1})
        body = struct.pack("<i", 0) + b"admin.$cmd\x00" + struct.pack("<ii", 0, -1) + query
        s.sendall(struct.pack("<iiii", 16 + len(body), 42, 0, 2004) + body)
        length, _, response_to, op_code = struct.unpack("<iiii", s.recv(16))
        payload = b""
        while len(payload) < length - 16:
            payload += s.recv(length - 16 - len(payload))
        assert (response_to, op_code) == (42, 1)
        _, cursor_id, _, returned = struct.unpack_from("<iqii", payload)
        assert (cursor_id, returned) == (0, 1)
        reply = bson.decode(payload[20:])
        assert reply["ismaster"] is True
        assert reply["ok"] == 1.0


@standin_only
def test_reset_and_restart() -> None:
    standin = MongoStandin().start()
    client: MongoClient[Doc] = MongoClient(standin.url, serverSelectionTimeoutMS=3000)
    try:
        client.a.b.insert_one({"x": 1})
        standin.reset()
        assert client.list_database_names() == []
    finally:
        client.close()
        standin.stop()
    with pytest.raises(RuntimeError):
        _ = standin.url


@standin_only
def test_module_runs_in_foreground_until_sigterm() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.mongo_standin", "--port", "0"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("mongodb://127.0.0.1:")
        client: MongoClient[Doc] = MongoClient(url, serverSelectionTimeoutMS=3000)
        assert client.admin.command("ping")["ok"] == 1.0
        client.close()
        proc.terminate()
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# -- a stricter stand-in: isolation, failpoints, client bulkWrite, a mongos ----------------


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


class TestFailpoints:
    def test_fail_command_answers_the_error_once(self, db: Database[Doc]) -> None:
        db.client.admin.command(
            "configureFailPoint",
            "failCommand",
            mode={"times": 1},
            data={"failCommands": ["find"], "errorCode": 50},
        )
        with pytest.raises(OperationFailure) as info:
            db.people.find_one({})
        assert info.value.code == 50
        assert db.people.find_one({}) is None

    def test_a_write_concern_error_is_reported_after_the_write(self, db: Database[Doc]) -> None:
        db.client.admin.command(
            "configureFailPoint",
            "failCommand",
            mode={"times": 1},
            data={"failCommands": ["insert"], "writeConcernError": {"code": 64, "errmsg": "wt"}},
        )
        with pytest.raises(OperationFailure) as info:
            db.people.insert_one({"_id": 1})
        assert info.value.code == 64


class TestClientBulkWrite:
    def test_operations_on_several_collections_in_one_command(
        self, db: Database[Doc], recorder: _Recorder
    ) -> None:
        from pymongo import InsertOne, UpdateOne

        db.a.insert_one({"_id": 1, "n": 0})
        recorder.names.clear()
        result = db.client.bulk_write(
            [
                InsertOne({"_id": 2}, namespace=f"{db.name}.b"),
                UpdateOne({"_id": 1}, {"$inc": {"n": 1}}, namespace=f"{db.name}.a"),
                UpdateOne({"_id": 9}, {"$inc": {"n": 1}}, upsert=True, namespace=f"{db.name}.a"),
            ],
            verbose_results=True,
        )
        assert recorder.names == ["bulkWrite"]
        assert result.update_results[1].matched_count == 1
        assert result.update_results[2].upserted_id == 9
        assert db.a.find_one({"_id": 1}) == {"_id": 1, "n": 1}
        assert db.b.find_one({"_id": 2}) == {"_id": 2}


@standin_only
class TestCommandLog:
    def test_every_command_is_recorded_with_its_options(self) -> None:
        with MongoStandin() as standin:
            client: MongoClient[Doc] = MongoClient(standin.url, w="majority")
            client.k.c.insert_one({"_id": 1})
            client.close()
            inserts = [c for c in standin.backend.log if "insert" in c]
            assert inserts[0]["writeConcern"] == {"w": "majority"}
            assert inserts[0]["$db"] == "k"
            assert standin.backend.counts["insert"] == 1


@standin_only
class TestShardedStandin:
    """A mongos in front of a sharded cluster refuses what would break a shard plan."""

    @pytest.fixture
    def cluster(self) -> Iterator[Database[Doc]]:
        with MongoStandin(sharded=True) as standin:
            client: MongoClient[Doc] = MongoClient(standin.url)
            client.admin.command("enableSharding", "k")
            client.admin.command("shardCollection", "k.people", key={"_id": "hashed"})
            yield client.k
            client.close()

    def test_a_unique_index_not_led_by_the_shard_key_is_refused(
        self, cluster: Database[Doc]
    ) -> None:
        with pytest.raises(OperationFailure) as info:
            cluster.people.create_index([("account", 1), ("id_hash", 1)], unique=True)
        assert info.value.code == 67

    def test_an_upsert_without_the_shard_key_is_refused(self, cluster: Database[Doc]) -> None:
        cluster.client.admin.command("shardCollection", "k.visits", key={"person": "hashed"})
        with pytest.raises(OperationFailure) as info:
            cluster.visits.update_one({"_id": "v"}, {"$set": {"n": 1}}, upsert=True)
        assert info.value.code == 61
        cluster.visits.update_one({"_id": "v", "person": "p"}, {"$set": {"n": 1}}, upsert=True)

    def test_a_collection_is_not_created_inside_a_transaction(self, cluster: Database[Doc]) -> None:
        with cluster.client.start_session() as session:
            session.start_transaction()
            with pytest.raises(OperationFailure) as info:
                cluster.fresh.insert_one({"_id": 1}, session=session)
            assert info.value.code == 263

"""Drive the MongoDB stand-in through the real PyMongo driver (sync and async): reads,
writes, indexes, text search, namespaces and client bulkWrite.

When ``KHAIBAO_TEST_MONGODB_URL`` is set these tests run against that server instead, which
checks that the stand-in's behaviour matches mongod's; tests of stand-in internals are skipped.
"""

from __future__ import annotations

import datetime

import pytest
from pymongo import ASCENDING, DESCENDING, ReturnDocument, WriteConcern
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure
from pymongo.synchronous.database import Database

from tests.mongo_standin.conftest import T0, Doc, Recorder, async_db, standin_only


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
    db: Database[Doc], recorder: Recorder
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


def test_unacknowledged_write_is_applied(db: Database[Doc]) -> None:
    fire_and_forget = db.get_collection("quiet", write_concern=WriteConcern(w=0))
    assert not fire_and_forget.insert_one({"_id": "q"}).acknowledged
    assert db.quiet.find_one({"_id": "q"}) == {"_id": "q"}


class TestClientBulkWrite:
    def test_operations_on_several_collections_in_one_command(
        self, db: Database[Doc], recorder: Recorder
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

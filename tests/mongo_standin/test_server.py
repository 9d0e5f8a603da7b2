"""The stand-in as a server: handshake, TTL, OP_QUERY, restart, the foreground module,
failpoints, the command log and a sharded cluster (mongos).

When ``KHAIBAO_TEST_MONGODB_URL`` is set these tests run against that server instead, which
checks that the stand-in's behaviour matches mongod's; tests of stand-in internals are skipped.
"""

from __future__ import annotations

import datetime
import socket
import struct
import subprocess
import sys
from collections.abc import Iterator

import bson
import pytest
from pymongo import MongoClient
from pymongo.errors import OperationFailure
from pymongo.synchronous.database import Database

from tests.mongo_standin import MongoStandin
from tests.mongo_standin.conftest import REPO_ROOT, T0, Doc, standin_only


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


@standin_only
def test_a_copied_database_lists_the_same_collections_indexes_and_documents() -> None:
    """What tests/conftest.py copies for each test in place of migrating again."""
    with MongoStandin() as standin, MongoClient[Doc](standin.url) as client:
        source = client["source"]
        source.people.create_index("id_hash", unique=True)
        source.people.create_index([("province", 1), ("status", 1)], name="by_place")
        source.people.create_index(
            "phone", name="live_phone", partialFilterExpression={"phone": {"$exists": True}}
        )
        source.people.create_index("expires_at", expireAfterSeconds=0)
        source.answers.create_index([("title", "text"), ("body", "text")], default_language="none")
        source.places.insert_one({"_id": "w1", "name": "Phường Ba Đình"})
        standin.backend.copy_database("source", "copy")

        copy = client["copy"]
        assert copy.list_collection_names() == source.list_collection_names()
        for name in source.list_collection_names():
            assert list(copy[name].list_indexes()) == list(source[name].list_indexes())
            assert list(copy[name].find()) == list(source[name].find())
        live_phone = copy.people.index_information()["live_phone"]
        assert live_phone["partialFilterExpression"] == {"phone": {"$exists": True}}
        copy.places.insert_one({"_id": "w2"})
        assert source.places.count_documents({}) == 1  # a copy, not the same documents
        assert [a["_id"] for a in copy.answers.find({"$text": {"$search": "x"}})] == []
        with pytest.raises(ValueError, match="exists"):
            standin.backend.copy_database("source", "copy")

"""The MongoDB adapter as production runs it (issue 26): write and read concerns on every
write and transaction, client-side timeouts that end in StorageDown, one command per batch,
migrations that run once, and a stand-in strict enough to show a server's failures.

What the adapter sent is read from the stand-in's command log; against a real server
(`KHAIBAO_TEST_MONGODB_URL`) from the driver's command monitoring, which sees the same
commands. Failpoints (`configureFailPoint`) need a server started with test commands enabled.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from pymongo.monitoring import (
    CommandFailedEvent,
    CommandListener,
    CommandStartedEvent,
    CommandSucceededEvent,
)

from core.storage import (
    CollectionSpec,
    DuplicateKey,
    Index,
    Insert,
    Operation,
    SchemaMissing,
    StorageDown,
    Update,
)
from core.storage.mongo import MongoStore
from tests.core.conftest import SPECS, person
from tests.mongo_standin import ENV_VAR, MongoStandin

Doc = dict[str, Any]


class _Sent(CommandListener):
    """The driver's view of what it sent: for a real server, which has no log to read."""

    def __init__(self) -> None:
        self.commands: list[Doc] = []

    def started(self, event: CommandStartedEvent) -> None:
        self.commands.append({**event.command, "$db": event.database_name})

    def succeeded(self, event: CommandSucceededEvent) -> None: ...

    def failed(self, event: CommandFailedEvent) -> None: ...


class CommandLog:
    def __init__(self, standin: MongoStandin | None) -> None:
        self.standin = standin
        self.listener = _Sent()

    def clear(self) -> None:
        if self.standin is not None:
            self.standin.backend.clear_log()
        self.listener.commands.clear()

    def named(self, name: str) -> list[Doc]:
        sent = list(self.standin.backend.log) if self.standin else self.listener.commands
        return [command for command in sent if next(iter(command)) == name]

    def count(self) -> int:
        sent = list(self.standin.backend.log) if self.standin else self.listener.commands
        return len(sent)


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, MongoStandin | None]]:
    import os

    real = os.environ.get(ENV_VAR)
    if real:
        yield real, None
        return
    with MongoStandin() as standin:
        yield standin.url, standin


@pytest.fixture
def log(server: tuple[str, MongoStandin | None]) -> CommandLog:
    return CommandLog(server[1])


def _store(server: tuple[str, MongoStandin | None], log: CommandLog, **options: Any) -> MongoStore:
    return MongoStore(
        server[0],
        database="prod_" + uuid.uuid4().hex[:10],
        event_listeners=[log.listener],
        **options,
    )


@pytest.fixture
async def store(
    server: tuple[str, MongoStandin | None], log: CommandLog
) -> AsyncIterator[MongoStore]:
    adapter = _store(server, log)
    await adapter.migrate(SPECS)
    await adapter.start(SPECS)
    log.clear()
    yield adapter
    await _failpoint_off(adapter)
    await adapter.close()


async def _failpoint(store: MongoStore, *, mode: Any = None, **data: Any) -> None:
    await store.database.client.admin.command(
        "configureFailPoint", "failCommand", mode=mode or {"times": 1}, data=data
    )


async def _failpoint_off(store: MongoStore) -> None:
    await store.database.client.admin.command("configureFailPoint", "failCommand", mode="off")


class TestWriteConcern:
    """Finding 1: a transaction committed with the server's default write concern can be
    rolled back on failover although the declaration was acknowledged."""

    @pytest.mark.parametrize(("configured", "sent"), [("majority", "majority"), ("1", 1)])
    async def test_commit_transaction_carries_the_configured_write_concern(
        self,
        server: tuple[str, MongoStandin | None],
        log: CommandLog,
        configured: str,
        sent: str | int,
    ) -> None:
        store = _store(server, log, write_concern=configured)
        await store.migrate(SPECS)
        await store.start(SPECS)
        try:
            log.clear()
            batch: list[Operation] = [
                Insert("people", person(1)),
                Update("counters", "c", inc={"n": 1}, upsert=True),
            ]
            await store.write(batch)
            await store.write([Insert("people", person(2))])
            commits = log.named("commitTransaction")
            assert len(commits) == 1
            assert commits[0]["writeConcern"]["w"] == sent
            single = log.named("insert")
            assert single
            assert single[0]["writeConcern"]["w"] == sent
        finally:
            await store.close()

    async def test_reads_and_transactions_ask_for_majority_read_concern(
        self, store: MongoStore, log: CommandLog
    ) -> None:
        await store.write([Insert("people", person(1)), Insert("people", person(2))])
        await store.find("people", {"province": 1})
        finds = log.named("find")
        assert finds[-1]["readConcern"] == {"level": "majority"}
        opened = [c for c in log.named("bulkWrite") if c.get("startTransaction")]
        assert opened
        assert opened[0]["readConcern"] == {"level": "majority"}


class TestTimeouts:
    """Finding 3: no client-side timeouts, and timeouts surfaced as 500s."""

    async def test_a_slow_server_ends_in_storage_down_within_the_timeout(
        self, server: tuple[str, MongoStandin | None], log: CommandLog
    ) -> None:
        store = _store(server, log, timeout_ms=300)
        await store.migrate(SPECS)
        await store.start(SPECS)
        try:
            await _failpoint(store, failCommands=["find"], blockConnection=True, blockTimeMS=1500)
            with pytest.raises(StorageDown):
                await store.find("people", {"province": 1})
        finally:
            await _failpoint_off(store)
            await store.close()

    async def test_a_commit_that_never_reaches_a_majority_is_storage_down(
        self, server: tuple[str, MongoStandin | None], log: CommandLog
    ) -> None:
        # The driver retries a commit whose write concern timed out (the outcome is unknown)
        # until the operation's time runs out; then the request must get 503, not 500.
        store = _store(server, log, timeout_ms=500)
        await store.migrate(SPECS)
        await store.start(SPECS)
        try:
            await _failpoint(
                store,
                failCommands=["commitTransaction"],
                writeConcernError={"code": 64, "errmsg": "waiting for replication timed out"},
                mode="alwaysOn",
            )
            with pytest.raises(StorageDown):
                await store.write([Insert("people", person(1)), Insert("people", person(2))])
        finally:
            await _failpoint_off(store)
            await store.close()

    async def test_an_execution_time_limit_is_storage_down(self, store: MongoStore) -> None:
        await _failpoint(store, failCommands=["insert"], errorCode=50)
        with pytest.raises(StorageDown):
            await store.write([Insert("people", person(1))])


class TestOneCommandPerBatch:
    """Finding 4: one round trip per operation inside every transaction."""

    async def test_a_batch_over_three_collections_is_one_write_command_and_a_commit(
        self, store: MongoStore, log: CommandLog
    ) -> None:
        batch: list[Operation] = [
            Insert("people", person(1)),
            Insert("places", {"_id": "m", "address": {"ward": 1}}),
            Update("counters", "a", inc={"n": 1}, upsert=True),
            Update("counters", "b", inc={"n": 1}, upsert=True),
        ]
        assert await store.write(batch) == [1, 1, 1, 1]
        assert log.count() == 2
        assert [next(iter(c)) for c in log.named("bulkWrite")] == ["bulkWrite"]

    async def test_a_duplicate_in_a_bulk_batch_names_its_collection(
        self, store: MongoStore
    ) -> None:
        await store.write([Insert("people", person(1))])
        with pytest.raises(DuplicateKey) as clash:
            await store.write([Insert("places", {"_id": "m"}), Insert("people", person(1))])
        assert clash.value.collection == "people"
        assert await store.get("places", "m") is None


class TestStrictStandin:
    """Finding 5: two transactions creating one document meet a WriteConflict, retried by
    the driver; the loser then sees the winner's document as a duplicate, as on a server."""

    async def test_racing_batches_creating_one_person_store_it_once(
        self, store: MongoStore
    ) -> None:
        batches: list[list[Operation]] = [
            [Insert("people", person(7)), Update("counters", f"c{n}", inc={"n": 1}, upsert=True)]
            for n in range(6)
        ]
        results = await asyncio.gather(*(store.write(b) for b in batches), return_exceptions=True)
        assert sum(isinstance(r, list) for r in results) == 1
        assert sum(isinstance(r, DuplicateKey) for r in results) == 5
        assert await store.count("counters", {}) == 1


class TestMigrations:
    """Finding 6: indexes built by every process at start-up."""

    async def test_start_checks_and_names_what_is_missing(
        self, server: tuple[str, MongoStandin | None], log: CommandLog
    ) -> None:
        store = _store(server, log)
        try:
            with pytest.raises(SchemaMissing) as refused:
                await store.start(SPECS)
            assert "khaibao db migrate" in str(refused.value)
            assert "collection people" in refused.value.missing
            await store.migrate(SPECS)
            log.clear()
            await store.start(SPECS)
            assert log.named("createIndexes") == []
            assert log.named("create") == []
        finally:
            await store.close()

    async def test_migrate_creates_every_collection_before_any_write(
        self, server: tuple[str, MongoStandin | None], log: CommandLog
    ) -> None:
        plain = CollectionSpec("signing_state")  # no index: created by nothing else
        store = _store(server, log)
        try:
            await store.migrate((*SPECS, plain))
            names = await store.database.list_collection_names()
            assert {spec.name for spec in (*SPECS, plain)} <= set(names)
        finally:
            await store.close()


@pytest.mark.skipif(bool(__import__("os").environ.get(ENV_VAR)), reason="a stand-in mongos")
class TestOnAShardedCluster:
    """Finding 2: unique indexes not led by the shard key cannot be built on a cluster."""

    async def test_migrate_shards_every_collection_by_its_key(self) -> None:
        specs = (
            CollectionSpec("people", indexes=(Index(("account_id",)),)),
            CollectionSpec(
                "staff_users", indexes=(Index(("username",), unique=True),), shard_key=None
            ),
        )
        with MongoStandin(sharded=True) as cluster:
            store = MongoStore(cluster.url, database="k")
            try:
                await store.migrate(specs)
                assert cluster.backend.shard_key("k", "people") == {"_id": "hashed"}
                assert cluster.backend.shard_key("k", "staff_users") is None
                await store.start(specs)
                await store.write([Insert("people", {"_id": "p", "account_id": "a"})])
            finally:
                await store.close()

    async def test_a_unique_index_that_cannot_hold_on_a_cluster_is_refused_before_building(
        self,
    ) -> None:
        specs = (CollectionSpec("accounts", indexes=(Index(("phone_hash",), unique=True),)),)
        with MongoStandin(sharded=True) as cluster:
            store = MongoStore(cluster.url, database="k")
            try:
                with pytest.raises(ValueError, match="does not start with the shard key"):
                    await store.migrate(specs)
            finally:
                await store.close()

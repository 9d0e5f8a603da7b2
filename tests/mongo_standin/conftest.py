"""What the stand-in's own tests share: a database per test on the stand-in (or the real
server named by ``KHAIBAO_TEST_MONGODB_URL``), sync or async, and a mark for the tests
that inspect the stand-in itself.
"""

from __future__ import annotations

import datetime
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient, MongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.monitoring import (
    CommandFailedEvent,
    CommandListener,
    CommandStartedEvent,
    CommandSucceededEvent,
)
from pymongo.synchronous.database import Database

from tests.mongo_standin import ENV_VAR, mongodb_test_url

Doc = dict[str, Any]
UTC = datetime.UTC
T0 = datetime.datetime(2025, 3, 1, 8, 30, 15, 123000, tzinfo=UTC)
REPO_ROOT = Path(__file__).resolve().parents[2]
standin_only = pytest.mark.skipif(
    bool(os.environ.get(ENV_VAR)), reason="inspects the stand-in itself"
)


class Recorder(CommandListener):
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
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def db(mongo_url: str, db_name: str, recorder: Recorder) -> Iterator[Database[Doc]]:
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

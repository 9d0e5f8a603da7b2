"""The storage contract's collections and its `store` fixture: every test that asks for
`store` runs once on SQLite (a real file) and once on MongoDB (a real server when
KHAIBAO_TEST_MONGODB_URL is set, else the wire-protocol stand-in driven by the real
PyMongo async client). Modules with a `store` of their own keep theirs."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.storage import CollectionSpec, Index, Store, TextIndex
from core.storage.mongo import MongoStore
from core.storage.sqlite import SqliteStore

PEOPLE = CollectionSpec(
    "people",
    indexes=(Index(("id_hash",), unique=True), Index(("province", "status"))),
    datetime_fields=frozenset({"seen_at", "expires_at"}),
    expires_field="expires_at",
)
# Only some counters are a checkpoint's: the index by checkpoint holds only those.
COUNTERS = CollectionSpec(
    "counters",
    indexes=(Index(("day", "n")), Index(("checkpoint", "day"), only_with="checkpoint")),
)
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

"""Upgrading keeps a district office's data: a database file created by the version before
rowid tables (WITHOUT ROWID, the same columns and indexes) is opened, read, written and
expired by this one as it was."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from core.storage import CollectionSpec, DuplicateKey, Index, Insert, Update
from core.storage.sqlite import SqliteStore, encode_datetime

PEOPLE = CollectionSpec(
    "people",
    indexes=(Index(("account_id", "id_hash"), unique=True), Index(("province",))),
    datetime_fields=frozenset({"expires_at"}),
    expires_field="expires_at",
)
NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def write_previous_layout(path: Path, documents: list[dict[str, object]]) -> None:
    """The file exactly as the previous version created it."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute('CREATE TABLE "people" (id TEXT PRIMARY KEY, doc TEXT NOT NULL) WITHOUT ROWID')
    conn.execute(
        'CREATE UNIQUE INDEX "ix_people_account_id_id_hash" ON "people" '
        "(json_extract(doc, '$.account_id'), json_extract(doc, '$.id_hash'))"
    )
    for field in ("province", "expires_at"):
        conn.execute(
            f'CREATE INDEX "ix_people_{field}" ON "people" (json_extract(doc, \'$.{field}\'))'
        )
    for document in documents:
        conn.execute(
            'INSERT INTO "people" VALUES (?, ?)', (document["_id"], orjson.dumps(document))
        )
    conn.commit()
    conn.close()


def person(n: int, expires_at: datetime) -> dict[str, object]:
    return {
        "_id": f"p{n}",
        "account_id": "acc",
        "id_hash": f"h{n}",
        "province": 79 if n % 2 else 1,
        "expires_at": encode_datetime(expires_at),
    }


async def test_a_file_from_the_previous_version_works_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "district.sqlite3"
    kept = [person(n, NOW + timedelta(days=1)) for n in range(1, 6)]
    write_previous_layout(path, [*kept, person(6, NOW - timedelta(days=1))])
    store = SqliteStore(path)
    await store.start([PEOPLE])
    try:
        found = await store.find_one("people", {"account_id": "acc", "id_hash": "h3"})
        assert found is not None
        assert found["_id"] == "p3"
        assert found["expires_at"] == NOW + timedelta(days=1)
        saigon = await store.find("people", {"province": 79}, sort=[("_id", 1)])
        assert [d["_id"] for d in saigon] == ["p1", "p3", "p5"]
        clash = {"_id": "p9", "account_id": "acc", "id_hash": "h1"}
        with pytest.raises(DuplicateKey):
            await store.write([Insert("people", clash)])
        await store.write([Update("people", "p2", set={"province": 79})])
        assert await store.count("people", {"province": 79}) == 4
        assert await store.purge_expired(NOW) == 1
        assert await store.get("people", "p6") is None
    finally:
        await store.close()

"""Which reads the SQLite store answers on the event loop (core/storage/sqlite/readers.py).

The adapter decides by itself, from the query's plan and what it finds; callers pass no
hint. What a user would notice: a request for one person's QR codes is not queued behind
reports on the reader threads, and a large answer is never cut short."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from core.storage import Insert
from core.storage.sqlite import SqliteStore
from core.storage.sqlite.readers import FEW, Readers
from tests.core.conftest import SPECS, person


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    adapter = SqliteStore(tmp_path / "k.sqlite3")
    await adapter.start(SPECS)
    yield adapter
    await adapter.close()


@pytest.fixture
def threaded(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Each read sent to a reader thread."""
    sent: list[str] = []
    read = Readers.read

    async def recorded(readers: Readers, fn: Callable[[Any], Any]) -> Any:
        sent.append("thread")
        return await read(readers, fn)

    monkeypatch.setattr(Readers, "read", recorded)
    return sent


class TestFindChoosesWhereToRead:
    async def test_a_handful_through_an_index_is_read_on_the_loop(
        self, store: SqliteStore, threaded: list[str]
    ) -> None:
        await store.write([Insert("people", person(n, province=n)) for n in range(40)])
        found = await store.find("people", {"province": 7, "status": "green"})
        newest = await store.find("people", {"province": 3}, sort=[("status", -1)], limit=1)
        assert [d["_id"] for d in found] == ["p7"]
        assert [d["_id"] for d in newest] == ["p3"]
        assert threaded == []

    async def test_more_than_a_handful_is_read_whole_on_a_thread(
        self, store: SqliteStore, threaded: list[str]
    ) -> None:
        count = FEW * 3
        await store.write([Insert("people", person(n)) for n in range(count)])
        found = await store.find("people", {"province": 1})
        assert len(found) == count
        assert threaded == ["thread"]

    async def test_a_read_without_an_index_goes_to_a_thread(
        self, store: SqliteStore, threaded: list[str]
    ) -> None:
        await store.write([Insert("people", person(n)) for n in range(3)])
        assert len(await store.find("people", {"status": "green"})) == 3
        assert threaded == ["thread"]

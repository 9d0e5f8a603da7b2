"""Group commit on the event loop (core/storage/sqlite/writer.py): which thread does what, and
that nothing accepted is dropped on the way out."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from core.storage import Delete, Insert, StorageDown, Update
from core.storage.sqlite import SqliteStore
from core.storage.sqlite.writer import GroupCommitWriter
from tests.core.conftest import SPECS, T0
from tests.core.test_sqlite_durability import stored_counter_ids
from tests.core.test_sqlite_processes import held


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    adapter = SqliteStore(tmp_path / "k.sqlite3")
    await adapter.start(SPECS)
    yield adapter
    await adapter.close()


@pytest.fixture
def applied_on(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """The thread each group was applied on, with the number of batches in it."""
    seen: list[tuple[str, int]] = []
    apply = GroupCommitWriter._begin_and_apply

    def recorded(writer: GroupCommitWriter, conn: Any, batch: list[Any]) -> None:
        seen.append((threading.current_thread().name, len(batch)))
        apply(writer, conn, batch)

    monkeypatch.setattr(GroupCommitWriter, "_begin_and_apply", recorded)
    return seen


async def test_concurrent_writes_share_groups_applied_on_the_loop(
    store: SqliteStore, applied_on: list[tuple[str, int]]
) -> None:
    await asyncio.gather(
        *(store.write([Insert("counters", {"_id": f"c{n}", "n": n})]) for n in range(200))
    )
    assert {thread for thread, _ in applied_on} == {threading.current_thread().name}
    assert sum(batches for _, batches in applied_on) == 200
    assert len(applied_on) < 20  # shared fsyncs, not one each
    assert len(await store.find("counters", {})) == 200


async def test_long_batches_and_sweeps_are_applied_off_the_loop(
    store: SqliteStore, applied_on: list[tuple[str, int]]
) -> None:
    # A case's contacts or the expiry sweep would hold the loop, and every request on it,
    # for as long as their SQL runs: they go to the commit thread.
    many = [Insert("people", {"_id": f"p{n}", "expires_at": T0}) for n in range(100)]
    assert await store.write(many) == [1] * 100
    assert applied_on == [("sqlite-commit", 1)]
    assert await store.purge_expired(T0 + timedelta(seconds=1)) == 100
    assert applied_on[-1] == ("sqlite-commit", 1)
    light = Update("counters", "x", inc={"n": 1}, upsert=True)
    assert await store.write([light]) == [1]
    assert applied_on[-1] == (threading.current_thread().name, 1)


async def test_a_delete_of_one_document_by_id_stays_on_the_loop(
    store: SqliteStore, applied_on: list[tuple[str, int]]
) -> None:
    # A declaration that moves its person to another cell deletes the cell it emptied: a
    # point delete, as light as the update before it. Sent to the commit thread, every such
    # declaration paid the thread hand-over (bench: 1.55 ms of CPU per submit, not 0.94).
    step_down = Update("counters", "x", inc={"n": -1}, upsert=True)
    emptied = Delete("counters", {"_id": "x", "n": -1})
    assert await store.write([step_down, emptied]) == [1, 1]
    assert applied_on == [(threading.current_thread().name, 1)]
    assert await store.get("counters", "x") is None


async def test_writes_accepted_before_close_are_committed(tmp_path: Path) -> None:
    # Shutting down while another process holds the writer turn: the writes already accepted
    # wait for it, are committed and answered, and only then does the store close.
    database = tmp_path / "k.sqlite3"
    store = SqliteStore(database)
    await store.start(SPECS)
    with held(tmp_path / "k.sqlite3-writer.lock"):
        writes = [
            asyncio.create_task(store.write([Insert("counters", {"_id": f"c{n}"})]))
            for n in range(300)
        ]
        closing = asyncio.create_task(store.close())
        await asyncio.sleep(0.2)
        assert not closing.done()
    await asyncio.wait_for(closing, 10)
    _, waiting = await asyncio.wait(writes, timeout=10)
    assert not waiting, f"{len(waiting)} accepted writes were never answered"
    assert [write.result() for write in writes] == [[1]] * 300
    stored = await asyncio.to_thread(stored_counter_ids, database)  # a fresh store
    assert stored == {f"c{n}" for n in range(300)}


async def test_a_write_while_the_store_closes_is_refused_not_left_waiting(
    tmp_path: Path,
) -> None:
    store = SqliteStore(tmp_path / "k.sqlite3")
    await store.start(SPECS)
    closing = asyncio.create_task(store.close())
    await asyncio.sleep(0)  # close has drained what it had and waits for the commit thread
    with pytest.raises(StorageDown):
        await asyncio.wait_for(store.write([Insert("counters", {"_id": "late"})]), 5)
    await asyncio.wait_for(closing, 10)


async def test_a_write_from_another_event_loop_is_refused_plainly(store: SqliteStore) -> None:
    # One store per event loop (a Celery worker opens its own). Another loop's write would
    # wait for a callback that loop never runs: it is refused at once instead.
    def from_another_loop() -> None:
        asyncio.run(store.write([Insert("counters", {"_id": "c"})]))

    with pytest.raises(RuntimeError, match="loop that started it"):
        await asyncio.to_thread(from_another_loop)
    assert await store.get("counters", "c") is None


def _wal_bytes(database: Path) -> int:
    wal = database.with_name(database.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


async def _write_pages(store: SqliteStore, count: int, *, pause: float = 0) -> None:
    # One commit each, ≈ 2 pages of data each: 4 MB in all for 500.
    for n in range(count):
        await store.write([Insert("counters", {"_id": f"c{n}", "pad": "x" * 8000})])
        await asyncio.sleep(pause)


async def test_the_wal_is_copied_back_by_the_checkpoint_thread(tmp_path: Path) -> None:
    # No commit runs SQLite's automatic checkpoint any more (it stalled every group behind
    # it); the checkpoint thread must keep the WAL from growing with every write. Writes
    # with a moment between them, as below saturation: it catches up between two commits.
    database = tmp_path / "k.sqlite3"
    store = SqliteStore(database, checkpoint_interval=0, wal_limit_pages=10**9)
    await store.start(SPECS)
    try:
        await _write_pages(store, 500, pause=0.002)
        assert _wal_bytes(database) < 1_000_000  # (closing the store removes the WAL)
    finally:
        await store.close()


class _NeverCheckpoints:
    """A checkpoint thread that has fallen behind: it reports a long WAL and copies nothing."""

    limit_pages = 100

    def __init__(self, *_: object, **__: object) -> None: ...

    @property
    def wal_pages(self) -> int:
        return 10**9

    @wal_pages.setter
    def wal_pages(self, _: int) -> None: ...

    def start(self) -> None: ...

    def committed(self) -> None: ...

    def stop(self) -> None: ...


async def test_the_commit_thread_checkpoints_when_the_checkpoint_thread_falls_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Writes back to back: a passive checkpoint beside them never finishes before the next
    # commit, and the WAL would grow without end (869 MB in an earlier experiment).
    database = tmp_path / "k.sqlite3"
    monkeypatch.setattr("core.storage.sqlite.store.Checkpointer", _NeverCheckpoints)
    store = SqliteStore(database)
    await store.start(SPECS)
    try:
        await _write_pages(store, 500)
        assert _wal_bytes(database) < 1_000_000
    finally:
        await store.close()

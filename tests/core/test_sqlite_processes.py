"""Several processes on one SQLite file (`khaibao serve --workers N`): writers take turns
through a lock file, and every acknowledged write of every process lands."""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.ratelimit import SqliteCounter
from core.storage import Insert
from core.storage.sqlite import SqliteStore
from load.server import free_port
from tests.core.conftest import SPECS
from tests.core.test_sqlite_durability import stored_counter_ids

WRITER = """
import asyncio, sys
from pathlib import Path
from core.storage import Insert
from core.storage.sqlite import SqliteStore
from tests.core.conftest import SPECS

async def main() -> None:
    store = SqliteStore(Path(sys.argv[1]))
    await store.start(SPECS)
    name = sys.argv[2]
    async def one(n: int) -> None:
        await store.write([Insert("counters", {"_id": f"{name}-{n}", "n": n})])
    for start in range(0, 600, 30):  # 30 at a time, so each process groups its commits
        await asyncio.gather(*(one(n) for n in range(start, start + 30)))
    await store.close()

asyncio.run(main())
"""


@contextmanager
def held(path: Path) -> Iterator[None]:
    """The lock as another process would hold it: flock on a descriptor of our own."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


async def test_a_write_waits_while_another_process_holds_the_writer_turn(
    tmp_path: Path,
) -> None:
    database = tmp_path / "shared.sqlite3"
    store = SqliteStore(database)
    await store.start(SPECS)
    try:
        with held(tmp_path / "shared.sqlite3-writer.lock"):
            write = asyncio.create_task(store.write([Insert("counters", {"_id": "c1"})]))
            await asyncio.sleep(0.3)
            assert not write.done()
        assert await asyncio.wait_for(write, timeout=10) == [1]
        assert await store.get("counters", "c1") == {"_id": "c1"}
    finally:
        await store.close()


def test_two_processes_writing_at_once_land_every_write(tmp_path: Path) -> None:
    database = tmp_path / "shared.sqlite3"
    root = Path(__file__).resolve().parents[2]
    processes = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(database), name], cwd=root)
        for name in ("a", "b")
    ]
    assert [p.wait(timeout=120) for p in processes] == [0, 0]

    assert stored_counter_ids(database) == {f"{n}-{i}" for n in "ab" for i in range(600)}


async def test_workers_starting_together_on_a_new_file_all_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `khaibao serve --workers N` on a new file: every worker creates the schema and switches
    # the file to WAL at the same moment, which SQLite refuses outright ("database is
    # locked") rather than waiting. The barrier lines the starts up so the race always happens.
    starting = threading.Barrier(4)
    connect = SqliteStore._connect

    def connect_in_step(store: SqliteStore, *, role: str = "reader") -> sqlite3.Connection:
        conn = connect(store, role=role)
        if role == "schema":
            starting.wait(timeout=5)
        return conn

    monkeypatch.setattr(SqliteStore, "_connect", connect_in_step)
    for attempt in range(20):
        database = tmp_path / f"new-{attempt}.sqlite3"
        stores = [SqliteStore(database) for _ in range(4)]
        try:
            await asyncio.gather(*(store.start(SPECS) for store in stores))
            await asyncio.gather(
                *(
                    store.write([Insert("counters", {"_id": f"c{i}"})])
                    for i, store in enumerate(stores)
                )
            )
            assert len(await stores[0].find("counters", {})) == 4
        finally:
            for store in stores:
                await store.close()


async def test_the_rate_limit_lets_requests_through_when_it_cannot_get_its_turn(
    tmp_path: Path,
) -> None:
    counter = SqliteCounter(tmp_path / "khaibao.ratelimit")
    try:
        assert await counter.incr("req:a", window_seconds=60) == 1
        with held(tmp_path / "khaibao.ratelimit.lock"):
            assert await counter.incr("req:a", window_seconds=60) is None  # not counted
        assert await counter.incr("req:a", window_seconds=60) == 2
    finally:
        counter.close()


def test_workers_starting_together_on_a_new_rate_limit_file_all_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The same race in the rate limit's own file, lined up the same way.
    starting = threading.Barrier(4)
    connect = sqlite3.connect

    def connect_in_step(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn: sqlite3.Connection = connect(*args, **kwargs)
        starting.wait(timeout=5)
        return conn

    monkeypatch.setattr(sqlite3, "connect", connect_in_step)
    for attempt in range(5):
        path = tmp_path / f"new-{attempt}.ratelimit"
        counters: list[SqliteCounter] = []
        errors: list[BaseException] = []
        threads = [
            threading.Thread(target=_open_counter, args=(path, counters, errors)) for _ in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
        try:
            assert errors == []
            assert len(counters) == 4
        finally:
            for counter in counters:
                counter.close()


def _open_counter(path: Path, counters: list[SqliteCounter], errors: list[BaseException]) -> None:
    try:
        counters.append(SqliteCounter(path))
    except BaseException as error:  # reported by the test's assert
        errors.append(error)


def test_khaibao_serve_with_two_workers_starts_on_a_new_data_directory(tmp_path: Path) -> None:
    # The races above, end to end: the command an operator runs, on a new, empty data
    # directory (one that does not exist is refused: a mistyped path), three times. A
    # worker that fails to start stops uvicorn entirely.
    for attempt in range(3):
        port = free_port()
        (tmp_path / f"run-{attempt}").mkdir()
        env = {
            **os.environ,
            "KHAIBAO_ENV": "test",
            "KHAIBAO_DATABASE_URL": f"sqlite:///{tmp_path}/run-{attempt}/khaibao.sqlite3",
            "KHAIBAO_REDIS_URL": "",
        }
        command = [sys.executable, "-c", "from api.cli import main; main()"]
        server = subprocess.Popen(
            [*command, "serve", "--workers", "2", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            ready = _wait_ready(f"http://127.0.0.1:{port}/readyz", server)
            assert ready, server.stderr.read().decode()[-2000:] if server.stderr else ""
        finally:
            server.terminate()
            server.wait(timeout=30)


def _wait_ready(url: str, server: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return server.poll() is None
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    return False


async def test_opening_and_closing_leaves_no_lock_file_open(tmp_path: Path) -> None:
    # Each store and rate limit holds its lock file open while it lives, and only then.
    def open_files() -> int:
        return len(os.listdir("/proc/self/fd"))

    database = tmp_path / "khaibao.sqlite3"
    before = open_files()
    for _ in range(20):
        store = SqliteStore(database)
        await store.start(SPECS)
        await store.write([Insert("counters", {"_id": f"c{_}"})])
        await store.close()
        SqliteCounter(tmp_path / "khaibao.ratelimit").close()
    assert open_files() == before

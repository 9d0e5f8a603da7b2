"""The database cannot take writes: its files are read-only, or the disk is full. Writes
are answered 503 `storage_unavailable` with Retry-After (never a 500), nothing is partly
stored, reads and idempotent replays keep working, and the service recovers by itself.

Both faults are made real, so the application meets the SQLite errors production would:

* Read-only: the server runs as an unprivileged user (uid 65534) and the database files
  and their directory are made read-only (`chmod a-w`) before it starts. Root would ignore
  the permissions; this user cannot. (It keeps only CAP_DAC_READ_SEARCH, which lets it read
  the Python install under /root and bypasses no write check.) SQLite opens the file
  read-only and every write fails with SQLITE_READONLY.
* Disk full: the data directory is a tmpfs of a few megabytes, filled up by another file
  while the server runs. SQLite's next write gets ENOSPC from the kernel: SQLITE_FULL.
"""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.storage import Insert, StorageDown
from core.storage.sqlite import SqliteStore
from runtime.collections import COLLECTIONS
from tests.faults.servers import (
    NOBODY,
    PHONES,
    ApiServer,
    Attempt,
    id_number_for,
    send,
    server_env,
    sign_in,
    snapshot,
)
from tests.security.cast import declaration_body

PROBLEM = "application/problem+json"


def _root() -> bool:
    return os.geteuid() == 0


def assert_storage_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["code"] == "storage_unavailable"
    assert int(response.headers["retry-after"]) >= 1


def _data_dir_for_nobody(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    os.chown(data, NOBODY, NOBODY)
    tmp_path.chmod(0o755)
    return data


def _make_read_only(directory: Path, *, directory_too: bool = False) -> None:
    """The database's files (and the rate limiter's side file) lose write permission."""
    for path in directory.iterdir():
        path.chmod(0o444)
    if directory_too:
        directory.chmod(0o555)


def _make_writable(directory: Path) -> None:
    directory.chmod(0o755)
    for path in directory.iterdir():
        path.chmod(0o644)


@pytest.mark.timeout(120)
@pytest.mark.skipif(not _root(), reason="needs root to run the server as another user")
@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux)")
async def test_read_only_database_answers_503_and_stores_nothing(
    tmp_path: Path, servers: list[ApiServer]
) -> None:
    data = _data_dir_for_nobody(tmp_path)
    database = data / "khaibao.sqlite3"
    env = server_env(f"sqlite:///{database}")
    phone = next(iter(PHONES))

    writable = ApiServer(tmp_path, env, as_user=NOBODY)
    servers.append(writable.start())
    async with httpx.AsyncClient(base_url=writable.url, timeout=10) as client:
        citizen = await sign_in(client, phone)
        first = Attempt(phone, "before-read-only", _body(phone))
        await send(client, first, citizen)
        assert first.status == 201
    writable.stop()
    # Read without leaving -wal/-shm files behind: the server must open the file as it is.
    before = snapshot(database, immutable=True)

    _make_read_only(data)
    try:
        read_only = ApiServer(tmp_path, env, as_user=NOBODY)
        servers.append(read_only.start())
        try:
            async with httpx.AsyncClient(base_url=read_only.url, timeout=10) as client:
                # Reads work, or, when SQLite could not set up the WAL's shared memory on the
                # read-only files (it depends on which connection opened them first), they are
                # refused the same way as writes: 503, never a 500 or a hang.
                people = await client.get("/v1/people", headers=citizen)
                if people.status_code == 200:
                    assert len(people.json()["items"]) == 1
                    # A retry of the acknowledged declaration is answered from the stored record.
                    replay = Attempt(phone, first.key, first.body)
                    await send(client, replay, citizen)
                    assert replay.status == 201
                    assert replay.declaration_id == first.declaration_id
                else:
                    assert_storage_unavailable(people)
                # A new declaration cannot be stored: 503, with when to try again.
                refused = await client.post(
                    "/v1/declarations",
                    json=_body(phone),
                    headers={**citizen, "Idempotency-Key": "during-read-only"},
                )
                assert_storage_unavailable(refused)
                batch = await client.post(
                    "/v1/declarations/batch",
                    json={"items": [{"idempotency_key": "batch-ro", "declaration": _body(phone)}]},
                    headers=citizen,
                )
                assert_storage_unavailable(batch)
                # Sign-in needs a write too (the code is stored): refused the same way.
                assert_storage_unavailable(
                    await client.post("/v1/auth/otp", json={"phone": list(PHONES)[1]})
                )
                ready = await client.get("/readyz")
                assert ready.status_code in (200, 503)
                if ready.status_code == 503:
                    assert ready.json()["code"] == "storage_unavailable"
        except AssertionError as failure:  # the server's side of it, for the record
            raise AssertionError(
                f"{failure}\n--- server log:\n{read_only.output()[-4000:]}"
            ) from None
        read_only.stop()
    finally:
        _make_writable(data)
    assert snapshot(database) == before


@pytest.mark.timeout(120)
@pytest.mark.skipif(not _root(), reason="needs root to run the server as another user")
@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux)")
async def test_a_read_only_data_directory_stops_start_up_with_the_reason(
    tmp_path: Path, servers: list[ApiServer]
) -> None:
    """A wholly read-only volume after a clean shutdown: SQLite cannot create the WAL's
    shared-memory file, so not even reads are possible. The server refuses to start and
    says why, rather than serving errors (the orchestrator's restart loop and the log show
    it). See SECURITY.md, "Not covered", for the degraded mode this could become."""
    data = _data_dir_for_nobody(tmp_path)
    env = server_env(f"sqlite:///{data / 'khaibao.sqlite3'}")
    first = ApiServer(tmp_path, env, as_user=NOBODY)
    servers.append(first.start())
    first.stop()
    _make_read_only(data, directory_too=True)
    try:
        refused = ApiServer(tmp_path, env, as_user=NOBODY)
        with pytest.raises(AssertionError, match="server exited") as exited:
            refused.start()
        assert "readonly database" in str(exited.value)
    finally:
        _make_writable(data)


def _body(phone: str) -> dict[str, Any]:
    return declaration_body(phone, id_number_for(phone))


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs: a disk that can really run out of space."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m,mode=0755", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _fill(directory: Path) -> Path:
    """Write a file until the disk refuses: ENOSPC."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for size in (1 << 16, 4096, 512, 1):  # big writes first, then the last crumbs
            _write_until_full(fd, b"\0" * size)
    finally:
        os.close(fd)
    return filler


def _write_until_full(fd: int, chunk: bytes) -> None:
    while True:
        try:
            os.write(fd, chunk)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
            return


@pytest.mark.timeout(120)
@pytest.mark.skipif(not _root(), reason="needs root to mount a tmpfs")
async def test_full_disk_answers_503_stores_nothing_partial_and_recovers(
    small_disk: Path, tmp_path: Path, servers: list[ApiServer]
) -> None:
    data = small_disk / "data"
    data.mkdir()
    database = data / "khaibao.sqlite3"
    server = ApiServer(tmp_path, server_env(f"sqlite:///{database}"))
    servers.append(server.start())
    phones = list(PHONES)[:3]
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        citizens = {phone: await sign_in(client, phone) for phone in phones}
        for phone in phones:  # each person exists: what follows only adds declarations
            warm = Attempt(phone, f"warm-{phone[1:]}", _body(phone))
            await send(client, warm, citizens[phone])
            assert warm.status == 201

        filler = _fill(small_disk)
        attempts: list[Attempt] = []
        # Declarations until the disk refuses one (some may still fit in free pages).
        for n in range(300):
            phone = phones[n % len(phones)]
            attempt = Attempt(phone, f"full-{n}", _body(phone))
            await send(client, attempt, citizens[phone])
            attempts.append(attempt)
            if attempt.status == 503:
                break
        statuses = {a.status for a in attempts}
        assert statuses <= {201, 503}, [(a.status, a.problem_code) for a in attempts]
        refused = [a for a in attempts if a.status == 503]
        assert refused, "the disk never filled up"
        assert {a.problem_code for a in refused} == {"storage_unavailable"}
        assert all(a.retry_after and int(a.retry_after) >= 1 for a in refused)
        # Reads still work on a full disk.
        assert (await client.get("/v1/people", headers=citizens[phones[0]])).status_code == 200

        full = snapshot(database)
        accepted = 3 + len([a for a in attempts if a.status == 201])
        filler.unlink()  # space again: the same retry now succeeds, without a restart
        retry = refused[0]
        await send(client, retry, citizens[retry.phone])
        assert retry.status == 201, retry

    server.stop()
    after = snapshot(database)
    # Nothing partial: each accepted declaration has its idempotency record, and each person
    # their one count of the day (reports count a person once a day, as their latest); the
    # refused one left nothing until its retry was accepted.
    assert full["declarations"] == full["idempotency"] == accepted
    assert after["declarations"] == after["idempotency"] == accepted + 1
    assert full["counted"] == full["people"]
    assert after["counted"] == after["people"]


class _FailingConnection:
    """A real connection whose COMMIT and ROLLBACK fail, as on a disk that just died."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, *args: Any) -> Any:
        if sql in ("COMMIT", "ROLLBACK"):
            raise sqlite3.OperationalError("disk I/O error")
        return self._conn.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


class TestWriterSurvivesDatabaseErrors:
    """The store's write path (groups applied on the event loop, committed on the commit
    thread) must answer every write, even when the database fails under it; a writer stuck
    after a failure would leave every later write waiting forever."""

    async def test_a_writer_that_cannot_open_the_database_answers_storage_down(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # What the read-only test meets at random: the schema connection opens, the
        # writer's own connection then fails ("attempt to write a readonly database").
        real_connect = SqliteStore._connect

        def connect(store: SqliteStore, *, role: str = "reader") -> sqlite3.Connection:
            if role == "writer":
                raise sqlite3.OperationalError("attempt to write a readonly database")
            return real_connect(store, role=role)

        monkeypatch.setattr(SqliteStore, "_connect", connect)
        store = SqliteStore(tmp_path / "k.sqlite3")
        await store.start(COLLECTIONS)
        try:
            for _ in range(2):  # and again: the writer is still there to answer
                with pytest.raises(StorageDown):
                    await asyncio.wait_for(store.write([Insert("people", {"_id": "p"})]), 10)
        finally:
            await asyncio.wait_for(store.close(), 10)

    # One insert is applied on the event loop and committed on the commit thread; a hundred
    # are applied there too (a long group would hold the loop).
    @pytest.mark.parametrize("inserts", [1, 100])
    async def test_a_failing_rollback_does_not_kill_the_writer(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, inserts: int
    ) -> None:
        real_connect = SqliteStore._connect

        def connect(store: SqliteStore, *, role: str = "reader") -> Any:
            conn = real_connect(store, role=role)
            if role == "writer":
                return _FailingConnection(conn)
            return conn

        monkeypatch.setattr(SqliteStore, "_connect", connect)
        store = SqliteStore(tmp_path / "k.sqlite3")
        await store.start(COLLECTIONS)
        try:
            for n in range(2):
                batch = [Insert("people", {"_id": f"p{n}-{i}"}) for i in range(inserts)]
                with pytest.raises(StorageDown):
                    await asyncio.wait_for(store.write(batch), 10)
        finally:
            await asyncio.wait_for(store.close(), 10)

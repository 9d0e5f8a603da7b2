"""SQLite adapter: the embedded default. One file, WAL, durable commits, group commit.

Every document is a row `(id, doc)` of a rowid table, with `doc` as JSON; indexes are
expression indexes on `json_extract(doc, '$.field')`, and filters are translated to the
same expressions so the planner uses them.

Writes are grouped on the event loop. A request adds its batch to the pending group and
waits; while one group's COMMIT syncs on the commit thread, the next group gathers. When the
sync returns, the loop applies everything that gathered (one transaction; a batch that fails,
a duplicate key or a precondition, is retried alone in a savepoint so it does not sink the
others) and hands its COMMIT to the commit thread: under a surge many declarations share one
disk flush (group commit). With `group_commit=False` every batch gets its own transaction,
the baseline the benchmark compares against. A batch's future is resolved only after COMMIT
returned with `synchronous=FULL`, so an acknowledged write survives the process being
killed. Groups that may take long (deletes by filter, batches of many operations) are
applied on the commit thread instead, so that the loop never waits on them. The WAL is
copied back into the database file by a checkpoint thread (`_Checkpointer`), not inside a
COMMIT, so no group waits for a checkpoint.

Reads run on a small pool of reader threads with their own connections; WAL lets them read
while the writer writes.

Several processes on one file (`khaibao serve --workers 4`) take turns through a lock file
(`FileLock`) instead of SQLite's busy handler, which polls with sleeps of up to 100 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import orjson

from core.storage.port import (
    RANGE_OPERATORS,
    CollectionSpec,
    Delete,
    Document,
    DuplicateKey,
    Filter,
    Insert,
    Operation,
    PreconditionFailed,
    StorageDown,
    StorageError,
    Update,
    check_field,
)

try:
    import fcntl
except ImportError:  # Windows: SQLite's own locking alone
    fcntl = None  # type: ignore[assignment]

T = TypeVar("T")
_SQL_RANGE = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
_STOP = object()
_TURN = object()  # for the commit thread: wait for the writer turn, then call the loop


def encode_datetime(value: datetime) -> str:
    """Fixed-width UTC text, so string order is time order in indexes and comparisons."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(timespec="microseconds")[:26] + "Z"  # strftime: half as fast


def create_table_sql(collection: str) -> str:
    """The table of one collection; `load/bench_reports.py` bulk-loads the same layout."""
    # A rowid table, not WITHOUT ROWID: documents are ≈ 1 KB, and a WITHOUT ROWID
    # table keeps whole rows in its primary-key B-tree, so inserts under random keys
    # (keyed hashes) split leaves of big rows all over the file. A rowid table
    # appends rows at its right edge and keeps the ids in a small separate index:
    # 45% fewer bytes written per declaration, the disk's work at every commit and
    # checkpoint (BENCHMARKS.md, "Rowid tables"). Files created before keep their
    # WITHOUT ROWID tables, which work the same.
    return f'CREATE TABLE IF NOT EXISTS "{collection}" (id TEXT PRIMARY KEY, doc TEXT NOT NULL)'


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return encode_datetime(value)
    raise TypeError(f"cannot store {type(value).__name__}")


def _dumps(value: Any) -> str:
    return orjson.dumps(value, default=_default, option=orjson.OPT_PASSTHROUGH_DATETIME).decode()


def _param(value: Any) -> Any:
    """A filter value as SQLite compares it with json_extract's result."""
    if isinstance(value, datetime):
        return encode_datetime(value)
    if isinstance(value, bool):
        return int(value)
    return value


# Field names come from code, so a few hundred distinct ones at most: each is checked and
# turned into SQL once per process instead of once per write.
@functools.lru_cache(maxsize=4096)
def _path(name: str) -> str:
    return "$." + check_field(name)


@functools.lru_cache(maxsize=4096)
def _expr(name: str) -> str:
    return "id" if name == "_id" else f"json_extract(doc, '{_path(name)}')"


def _json_value(value: Any) -> tuple[bool, Any]:
    """A value for json_set: (whether SQL must parse it with json(), the parameter).
    Text, numbers and null bind as they are; one orjson call per value was a third of a
    declaration's update."""
    if value is None or type(value) in (str, int, float):  # exactly: not bool, not enums
        return False, value
    if isinstance(value, datetime):
        return False, encode_datetime(value)
    return True, _dumps(value)  # booleans, lists, objects


@functools.lru_cache(maxsize=1024)
def _set_clause(
    table: str, names: tuple[str, ...], parsed: tuple[bool, ...], incs: tuple[str, ...]
) -> str:
    setters = [
        f"'{_path(name)}', {'json(?)' if as_json else '?'}"
        for name, as_json in zip(names, parsed, strict=True)
    ]
    setters += [f"'{_path(n)}', coalesce(json_extract(doc, '{_path(n)}'), 0) + ?" for n in incs]
    return f"UPDATE {table} SET doc = json_set(doc, {', '.join(setters)})"


def _nested(flat: Mapping[str, Any]) -> Document:
    """{"a.b": 1} -> {"a": {"b": 1}}, as MongoDB builds a document on upsert."""
    out: Document = {}
    for key, value in flat.items():
        *parents, last = key.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return out


class FileLock:
    """An exclusive lock between processes (flock on `path`), taken around short critical
    sections: a waiter gets it the moment the holder lets go. SQLite's own busy handler
    instead sleeps 1, 2, 5 … 100 ms between tries, which two busy workers on one file turn
    into seconds of latency. With `timeout`, a waiter tries every 0.2 ms and gives up with
    TimeoutError (for callers on the event loop, which must never wait long). Where the file
    cannot be opened (a read-only directory) or flock does not exist, it does nothing and
    SQLite's locking still holds."""

    def __init__(self, path: Path, *, timeout: float | None = None) -> None:
        self.path = path
        self.timeout = timeout
        self._fd: int | None = None

    def __enter__(self) -> FileLock:
        self._acquire(self.timeout)
        return self

    @contextlib.contextmanager
    def waiting(self) -> Iterator[None]:
        """Held however long that takes, whatever `timeout` says: for start-up, which may
        wait where a request may not."""
        self.wait()
        try:
            yield
        finally:
            self.release()

    def _descriptor(self) -> int | None:
        if self._fd is None and fcntl is not None:
            try:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError:
                return None
        return self._fd

    def _acquire(self, timeout: float | None) -> None:
        fd = self._descriptor()
        if fd is None:
            return
        if timeout is None:
            fcntl.flock(fd, fcntl.LOCK_EX)
            return
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"{self.path} is held by another process") from None
                time.sleep(0.0002)

    def __exit__(self, *_: object) -> None:
        self.release()

    def try_acquire(self) -> bool:
        """Take the lock if it is free now; never waits."""
        fd = self._descriptor()
        if fd is None:
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def wait(self) -> None:
        """Take the lock, however long that takes."""
        self._acquire(None)

    def release(self) -> None:
        if self._fd is not None and fcntl is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


@dataclass
class _Job:
    ops: Sequence[Operation]
    future: asyncio.Future[list[int]]
    counts: list[int] = field(default_factory=list)
    error: BaseException | None = None

    @property
    def heavy(self) -> bool:
        """Deletes by filter (the expiry sweep) and long batches (a case's contacts) may take
        long enough to be felt on the event loop: their group is applied on the commit
        thread."""
        return len(self.ops) > _LIGHT_OPS or any(isinstance(op, Delete) for op in self.ops)


_LIGHT_OPS = 32


def _checkpoint(conn: sqlite3.Connection) -> int:
    """A passive checkpoint (it never waits for a writer); the pages in the WAL."""
    return int(conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1])


class _Checkpointer:
    """Copies the WAL back into the database file on a thread of its own, so that no
    commit waits for it. SQLite's automatic checkpoint runs inside the COMMIT that takes the
    WAL past 1,000 pages, and every group behind that commit waited: scans at half the
    maximum rate saw ≈ 0.1 s stalls and 503s (BENCHMARKS.md, "Targets"). A passive
    checkpoint never blocks a writer. It runs after a commit, at most every `interval`
    seconds. Should writes come so fast that it never catches up, the commit thread
    checkpoints in line once the WAL passes `limit_pages`, as SQLite would have."""

    def __init__(
        self, connect: Callable[[], sqlite3.Connection], *, interval: float, limit_pages: int
    ) -> None:
        self._connect = connect
        self.interval = interval
        self.limit_pages = limit_pages
        self.wal_pages = 0  # frames in the WAL at the last checkpoint
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def committed(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while True:
                self._wake.wait()
                if self._stopping.is_set():
                    return
                self._wake.clear()
                try:
                    conn = conn or self._connect()
                    self.wal_pages = _checkpoint(conn)
                except sqlite3.Error:
                    if conn is not None:
                        conn.close()
                    conn = None  # a failing disk: the commits report it; try again later
                if self._stopping.wait(self.interval):
                    return
        finally:
            if conn is not None:
                conn.close()


class SqliteStore:
    def __init__(
        self,
        path: Path,
        *,
        group_commit: bool = True,
        max_batch: int = 512,
        readers: int = 4,
        checkpoint_interval: float = 0.25,
        wal_limit_pages: int = 4_000,
    ) -> None:
        self.path = path
        self.group_commit = group_commit
        self._max_batch = max_batch if group_commit else 1
        self._specs: dict[str, CollectionSpec] = {}
        # The turn every process writing to this file takes before it writes.
        self._turn = FileLock(path.with_name(path.name + "-writer.lock"))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: list[_Job] = []  # writes waiting for the next group
        self._busy = False  # a group is being applied or committed
        self._scheduled = False  # the next group is already called for
        self._idle = asyncio.Event()
        self._conn: sqlite3.Connection | None = None  # the write connection
        self._commits: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._committer: threading.Thread | None = None
        self._checkpointer = _Checkpointer(
            lambda: self._connect(role="checkpoint"),
            interval=checkpoint_interval,
            limit_pages=wal_limit_pages,
        )
        self._local = threading.local()
        self._reader_connections: list[sqlite3.Connection] = []
        self._loop_reader: sqlite3.Connection | None = None
        self._readers = ThreadPoolExecutor(max_workers=readers, thread_name_prefix="sqlite-read")
        self._lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------------

    def _connect(self, *, role: str = "reader") -> sqlite3.Connection:
        """A connection for `role`: "schema" (start-up), "writer", "checkpoint" or
        "reader"."""
        # The write connection is used on the event loop: it must not sit in SQLite's busy
        # handler for long. Other processes wait for the writer turn (FileLock) instead.
        busy_ms = 1000 if role == "writer" else 30000
        conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=busy_ms / 1000
        )
        conn.execute(f"PRAGMA busy_timeout = {busy_ms}")
        conn.execute("PRAGMA synchronous = FULL")
        if role == "reader":
            conn.execute("PRAGMA query_only = 1")
        if role == "writer":
            conn.execute("PRAGMA wal_autocheckpoint = 0")  # the checkpoint thread's work
        return conn

    async def start(self, specs: Sequence[CollectionSpec]) -> None:
        self._specs = {spec.name: spec for spec in specs}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(self._create_schema)
        self._loop = asyncio.get_running_loop()
        self._idle = asyncio.Event()
        self._idle.set()
        self._committer = threading.Thread(
            target=self._commit_loop, name="sqlite-commit", daemon=True
        )
        self._committer.start()
        self._checkpointer.start()

    def _create_schema(self) -> None:
        # In the writer's turn: two processes starting on a new file at once would otherwise
        # both try to switch it to WAL, and SQLite refuses that change at once ("database is
        # locked") instead of waiting.
        conn = self._connect(role="schema")
        try:
            with self._turn:
                self._create_tables(conn)
        finally:
            conn.close()

    def _create_tables(self, conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA journal_mode = WAL")
        for spec in self._specs.values():
            conn.execute(create_table_sql(spec.name))
            indexes = [(index.fields, index.unique) for index in spec.indexes]
            if spec.expires_field:
                indexes.append(((spec.expires_field,), False))
            for fields, unique in indexes:
                name = "ix_" + spec.name + "_" + "_".join(f.replace(".", "_") for f in fields)
                columns = ", ".join(_expr(f) for f in fields)
                kind = "UNIQUE INDEX" if unique else "INDEX"
                conn.execute(f'CREATE {kind} IF NOT EXISTS "{name}" ON "{spec.name}" ({columns})')

    async def close(self) -> None:
        if self._committer is not None:
            # Writes already accepted are committed first.
            while self._pending or self._busy:
                self._idle.clear()
                self._kick()
                await self._idle.wait()
            self._loop = None  # from here on a write is refused, not left waiting
            self._commits.put(_STOP)
            await asyncio.to_thread(self._committer.join)
            self._committer = None
            await asyncio.to_thread(self._checkpointer.stop)
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._turn.close()
        self._readers.shutdown(wait=True)
        if self._loop_reader is not None:
            self._loop_reader.close()
            self._loop_reader = None
        with self._lock:
            for conn in self._reader_connections:
                conn.close()
            self._reader_connections.clear()

    # -- reads -----------------------------------------------------------------------------

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect(role="reader")
            self._local.conn = conn
            with self._lock:
                self._reader_connections.append(conn)
        return conn

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def run() -> T:
            try:
                return fn(self._reader())
            except sqlite3.OperationalError as exc:
                raise StorageDown(str(exc)) from exc

        return await asyncio.get_running_loop().run_in_executor(self._readers, run)

    def _decode(self, collection: str, raw: str) -> Document:
        document: Document = orjson.loads(raw)
        for name in self._specs[collection].datetime_fields:
            value = document.get(name)
            if isinstance(value, str):
                document[name] = datetime.fromisoformat(value)
        return document

    def _table(self, collection: str) -> str:
        if collection not in self._specs:
            raise ValueError(f"unknown collection {collection!r}")
        return f'"{collection}"'

    async def ping(self) -> None:
        await self._read(lambda conn: conn.execute("SELECT 1").fetchone())

    async def get(self, collection: str, document_id: str) -> Document | None:
        return self._probe(collection, "id = ?", [document_id])

    async def find_one(self, collection: str, where: Filter) -> Document | None:
        if self._is_probe(collection, where):
            clause, params = _where(where)
            return self._probe(collection, clause, params)
        found = await self.find(collection, where, limit=1)
        return found[0] if found else None

    def _is_probe(self, collection: str, where: Filter) -> bool:
        """Equality on exactly the fields of a unique index: at most one row, one B-tree
        lookup."""
        if any(isinstance(value, Mapping) or value is None for value in where.values()):
            return False
        spec = self._specs.get(collection)
        indexes = spec.indexes if spec is not None else ()
        return any(index.unique and set(index.fields) == set(where) for index in indexes)

    def _probe(self, collection: str, clause: str, params: list[Any]) -> Document | None:
        """A lookup of one row by a unique key runs on the event loop itself: in WAL mode a
        reader never waits for the writer, and one B-tree lookup costs less than the hop to
        a reader thread — the hop was up to a third of a QR fetch or a scan."""
        sql = f"SELECT doc FROM {self._table(collection)} WHERE {clause}"
        row = self._on_loop(lambda conn: conn.execute(sql, params).fetchone())
        return self._decode(collection, row[0]) if row else None

    def _on_loop(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """`fn` on the event loop's own reader connection: for reads as short as a probe."""
        try:
            if self._loop_reader is None:
                self._loop_reader = self._connect(role="reader")
            return fn(self._loop_reader)
        except sqlite3.OperationalError as exc:
            raise StorageDown(str(exc)) from exc

    async def find(
        self,
        collection: str,
        where: Filter,
        *,
        sort: Sequence[tuple[str, int]] = (),
        limit: int | None = None,
        few: bool = False,
    ) -> list[Document]:
        clause, params = _where(where)
        sql = f"SELECT doc FROM {self._table(collection)} WHERE {clause}"
        if sort:
            order = ", ".join(f"{_expr(name)} {'DESC' if d < 0 else 'ASC'}" for name, d in sort)
            sql += f" ORDER BY {order}"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        if few:  # a handful through an index, like a probe (see Store.find)
            rows = self._on_loop(lambda conn: conn.execute(sql, params).fetchall())
        else:
            rows = await self._read(lambda conn: conn.execute(sql, params).fetchall())
        return [self._decode(collection, row[0]) for row in rows]

    async def count(self, collection: str, where: Filter) -> int:
        clause, params = _where(where)
        sql = f"SELECT count(*) FROM {self._table(collection)} WHERE {clause}"
        row = await self._read(lambda conn: conn.execute(sql, params).fetchone())
        return int(row[0])

    # -- writes ----------------------------------------------------------------------------
    #
    # A group is applied where the requests are: on the event loop, which holds the GIL
    # anyway. Only its COMMIT, the fsync, goes to the commit thread, which needs the GIL
    # just to start and to report back. A writer thread applying the statements instead
    # handed the GIL back and forth with the event loop on every statement, and each
    # hand-over cost more than the statement (BENCHMARKS.md, "Group commit applied on the
    # event loop"). While one group syncs, the next one gathers in `_pending`.

    async def write(self, ops: Sequence[Operation]) -> list[int]:
        if self._committer is None or self._loop is None:
            raise StorageDown("store is not started")
        if asyncio.get_running_loop() is not self._loop:
            raise RuntimeError("SqliteStore.write must be awaited on the loop that started it")
        for op in ops:
            self._table(op.collection)
        job = _Job(ops=ops, future=self._loop.create_future())
        self._pending.append(job)
        self._kick()
        return await job.future

    async def purge_expired(self, now: datetime) -> int:
        ops: list[Operation] = [
            Delete(spec.name, {spec.expires_field: {"$lt": now}})
            for spec in self._specs.values()
            if spec.expires_field
        ]
        return sum(await self.write(ops)) if ops else 0

    def _kick(self) -> None:
        """Call for the next group soon: after the callbacks already due on this turn of the
        loop, so that requests being handled right now join it."""
        if not self._busy and not self._scheduled and self._loop is not None:
            self._scheduled = True
            self._loop.call_soon(self._next_group)

    def _next_group(self) -> None:
        self._scheduled = False
        if self._busy or not self._pending:
            if not self._busy:
                self._idle.set()
            return
        self._busy = True
        if self._turn.try_acquire():
            self._apply_group()
        else:  # another process is writing: the commit thread waits for the turn
            self._commits.put(_TURN)

    def _apply_group(self) -> None:
        """With the writer turn held: apply the next group on the loop and hand it to the
        commit thread (a heavy group is applied there too)."""
        batch = self._pending[: self._max_batch]
        del self._pending[: self._max_batch]
        if any(job.heavy for job in batch):
            self._commits.put((batch, False))
            return
        try:
            self._begin_and_apply(self._writer(), batch)
        except Exception as exc:  # a failing disk; whatever it is, the requests get an answer
            usable = self._conn is None or _rolled_back(self._conn)
            self._turn.release()
            # On the next turn of the loop, not now: a disk that fails every group would
            # otherwise recurse through _committed and _next_group once per group.
            assert self._loop is not None
            self._loop.call_soon(self._committed, _fail(batch, exc), usable)
            return
        self._commits.put((batch, True))

    def _writer(self) -> sqlite3.Connection:
        """The write connection, opened again after a failure closed it."""
        self._conn = self._conn or self._connect(role="writer")
        return self._conn

    def _begin_and_apply(self, conn: sqlite3.Connection, batch: list[_Job]) -> None:
        conn.execute("BEGIN IMMEDIATE")
        if not self._apply_all(conn, batch):
            # One batch failed (a duplicate key, a precondition): undo the group and
            # apply each batch in a savepoint of its own, so it fails alone.
            conn.execute("ROLLBACK")
            conn.execute("BEGIN IMMEDIATE")
            for job in batch:
                self._apply_job(conn, job)

    def _committed(self, batch: list[_Job], usable: bool) -> None:
        """On the loop: the group is durable (or failed). The next group is applied and sent
        to sync first, so the disk works while this group's requests are answered."""
        if not usable and self._conn is not None:
            self._conn.close()  # stuck in a transaction: a fresh one next time
            self._conn = None
        self._busy = False
        self._next_group()
        _resolve(batch)

    def _commit_loop(self) -> None:
        # The only thread that commits: it must outlive any database error, or every later
        # write would wait forever.
        while True:
            item = self._commits.get()
            if item is _STOP:
                return
            if item is _TURN:
                self._turn.wait()
                self._call_on_loop(self._apply_group)
                continue
            batch, applied = item
            usable = True
            try:
                conn = self._writer()
                if not applied:
                    self._begin_and_apply(conn, batch)
                conn.execute("COMMIT")
            except Exception as exc:
                _fail(batch, exc)
                usable = self._conn is not None and _rolled_back(self._conn)
            else:
                self._copy_back_if_behind(conn)
            finally:
                self._turn.release()
            self._call_on_loop(functools.partial(self._committed, batch, usable))
            self._checkpointer.committed()

    def _copy_back_if_behind(self, conn: sqlite3.Connection) -> None:
        """The checkpoint thread is not keeping up: checkpoint in line, as SQLite's automatic
        checkpoint would, so the WAL stays bounded. The group is committed whatever happens
        here."""
        if self._checkpointer.wal_pages <= self._checkpointer.limit_pages:
            return
        with contextlib.suppress(sqlite3.Error):  # the checkpoint thread tries again
            self._checkpointer.wal_pages = _checkpoint(conn)

    def _call_on_loop(self, callback: Callable[[], None]) -> None:
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed while writes waited
                loop.call_soon_threadsafe(callback)

    def _apply_all(self, conn: sqlite3.Connection, batch: list[_Job]) -> bool:
        """Every batch of the group without a savepoint each (two statements fewer per
        batch); False, with the transaction to be undone, when one of them fails."""
        try:
            for job in batch:
                job.counts = [self._apply(conn, op) for op in job.ops]
        except sqlite3.OperationalError:
            raise  # the database itself failed: the whole group fails
        except Exception:  # retried batch by batch below, which reports it
            return False
        return True

    def _apply_job(self, conn: sqlite3.Connection, job: _Job) -> None:
        conn.execute("SAVEPOINT job")
        try:
            job.counts = [self._apply(conn, op) for op in job.ops]
        except sqlite3.OperationalError:
            raise  # the database itself failed: the whole group fails
        except Exception as exc:  # one batch's failure must not sink its neighbours
            conn.execute("ROLLBACK TO job")
            job.error, job.counts = exc, []
        conn.execute("RELEASE job")

    def _apply(self, conn: sqlite3.Connection, op: Operation) -> int:
        table = self._table(op.collection)
        if isinstance(op, Insert):
            try:
                conn.execute(
                    f"INSERT INTO {table} (id, doc) VALUES (?, ?)",
                    (op.document["_id"], _dumps(op.document)),
                )
            except sqlite3.IntegrityError as exc:
                raise DuplicateKey(op.collection) from exc
            return 1
        if isinstance(op, Delete):
            clause, params = _where(op.where)
            return conn.execute(f"DELETE FROM {table} WHERE {clause}", params).rowcount
        return self._update(conn, table, op)

    def _update(self, conn: sqlite3.Connection, table: str, op: Update) -> int:
        values = [_json_value(value) for value in op.set.values()]
        clause, where_params = _where({"_id": op.id, **op.when})
        try:
            matched = 0
            if op.set or op.inc:
                parsed = tuple(as_json for as_json, _ in values)
                head = _set_clause(table, tuple(op.set), parsed, tuple(op.inc))
                params = [*(param for _, param in values), *op.inc.values(), *where_params]
                matched = conn.execute(f"{head} WHERE {clause}", params).rowcount
            else:
                sql = f"SELECT count(*) FROM {table} WHERE {clause}"
                matched = conn.execute(sql, where_params).fetchone()[0]
            if matched == 0 and op.upsert:
                document = _nested({**op.set_on_insert, **op.set, **op.inc})
                document["_id"] = op.id
                conn.execute(
                    f"INSERT INTO {table} (id, doc) VALUES (?, ?)", (op.id, _dumps(document))
                )
                return 1
        except sqlite3.IntegrityError as exc:
            raise DuplicateKey(op.collection) from exc
        if matched == 0 and op.must_match:
            raise PreconditionFailed(op.collection, op.id)
        return int(matched)


def _fail(batch: list[_Job], exc: Exception) -> list[_Job]:
    for job in batch:
        job.error, job.counts = StorageDown(str(exc)), []
    return batch


def _rolled_back(conn: sqlite3.Connection) -> bool:
    """Undo what a failed group left; False when the connection cannot be used again."""
    if not conn.in_transaction:
        return True
    try:
        conn.execute("ROLLBACK")
    except sqlite3.Error:
        return False
    return True


def _resolve(jobs: list[_Job]) -> None:
    for job in jobs:
        if job.future.cancelled():
            continue
        if job.error is not None:
            job.future.set_exception(job.error)
        else:
            job.future.set_result(job.counts)


def _where(where: Filter) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    for name, condition in where.items():
        expr = _expr(name)
        if isinstance(condition, Mapping):
            for operator, value in condition.items():
                if operator == "$in":
                    values = list(value)
                    if not values:
                        clauses.append("0")
                        continue
                    clauses.append(f"{expr} IN ({', '.join('?' * len(values))})")
                    params.extend(_param(v) for v in values)
                elif operator == "$ne":
                    clauses.append(f"({expr} IS NULL OR {expr} != ?)")
                    params.append(_param(value))
                elif operator in RANGE_OPERATORS:
                    clauses.append(f"{expr} {_SQL_RANGE[operator]} ?")
                    params.append(_param(value))
                else:
                    raise StorageError(f"unsupported operator {operator!r}")
        elif condition is None:
            clauses.append(f"{expr} IS NULL")
        else:
            clauses.append(f"{expr} = ?")
            params.append(_param(condition))
    return (" AND ".join(clauses) or "1"), params

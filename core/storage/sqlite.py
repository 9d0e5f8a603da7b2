"""SQLite adapter: the embedded default. One file, WAL, durable commits, group commit.

Every document is a row `(id, doc)` with `doc` as JSON; indexes are expression indexes on
`json_extract(doc, '$.field')`, and filters are translated to the same expressions so the
planner uses them.

Writes go through one writer thread. Requests put their batch on a queue and wait; the
writer takes everything that queued up while the previous commit was syncing, applies each
batch inside its own SAVEPOINT (so one failing batch does not sink the others) and commits
them all with one fsync. Under a surge many declarations share one disk flush (group
commit); with `group_commit=False` every batch gets its own transaction, the baseline the
benchmark compares against. A batch's future is resolved only after COMMIT returned with
`synchronous=FULL`, so an acknowledged write survives the process being killed.

Reads run on a small pool of reader threads with their own connections; WAL lets them read
while the writer writes.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
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

T = TypeVar("T")
_SQL_RANGE = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
_STOP = object()


def encode_datetime(value: datetime) -> str:
    """Fixed-width UTC text, so string order is time order in indexes and comparisons."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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


def _path(name: str) -> str:
    return "$." + check_field(name)


def _expr(name: str) -> str:
    return "id" if name == "_id" else f"json_extract(doc, '{_path(name)}')"


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


@dataclass
class _Job:
    ops: Sequence[Operation]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[list[int]]
    counts: list[int] = field(default_factory=list)
    error: BaseException | None = None


class SqliteStore:
    def __init__(
        self,
        path: Path,
        *,
        group_commit: bool = True,
        max_batch: int = 512,
        readers: int = 4,
    ) -> None:
        self.path = path
        self.group_commit = group_commit
        self._max_batch = max_batch if group_commit else 1
        self._specs: dict[str, CollectionSpec] = {}
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._local = threading.local()
        self._reader_connections: list[sqlite3.Connection] = []
        self._loop_reader: sqlite3.Connection | None = None
        self._readers = ThreadPoolExecutor(max_workers=readers, thread_name_prefix="sqlite-read")
        self._lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------------

    def _connect(self, *, read_only: bool = False) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("PRAGMA synchronous = FULL")
        if read_only:
            conn.execute("PRAGMA query_only = 1")
        return conn

    async def start(self, specs: Sequence[CollectionSpec]) -> None:
        self._specs = {spec.name: spec for spec in specs}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(self._create_schema)
        self._writer = threading.Thread(target=self._write_loop, name="sqlite-writer", daemon=True)
        self._writer.start()

    def _create_schema(self) -> None:
        conn = self._connect()
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            for spec in self._specs.values():
                conn.execute(
                    f'CREATE TABLE IF NOT EXISTS "{spec.name}" '
                    "(id TEXT PRIMARY KEY, doc TEXT NOT NULL) WITHOUT ROWID"
                )
                indexes = [(index.fields, index.unique) for index in spec.indexes]
                if spec.expires_field:
                    indexes.append(((spec.expires_field,), False))
                for fields, unique in indexes:
                    name = "ix_" + spec.name + "_" + "_".join(f.replace(".", "_") for f in fields)
                    columns = ", ".join(_expr(f) for f in fields)
                    kind = "UNIQUE INDEX" if unique else "INDEX"
                    conn.execute(
                        f'CREATE {kind} IF NOT EXISTS "{name}" ON "{spec.name}" ({columns})'
                    )
        finally:
            conn.close()

    async def close(self) -> None:
        if self._writer is not None:
            self._queue.put(_STOP)
            await asyncio.to_thread(self._writer.join)
            self._writer = None
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
            conn = self._connect(read_only=True)
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
        """A primary-key read runs on the event loop itself: in WAL mode a reader never waits
        for the writer, and one B-tree lookup costs less than the hop to a reader thread —
        the hop was up to a third of a QR fetch or a scan."""
        table = self._table(collection)
        try:
            if self._loop_reader is None:
                self._loop_reader = self._connect(read_only=True)
            row = self._loop_reader.execute(
                f"SELECT doc FROM {table} WHERE id = ?", (document_id,)
            ).fetchone()
        except sqlite3.OperationalError as exc:
            raise StorageDown(str(exc)) from exc
        return self._decode(collection, row[0]) if row else None

    async def find_one(self, collection: str, where: Filter) -> Document | None:
        found = await self.find(collection, where, limit=1)
        return found[0] if found else None

    async def find(
        self,
        collection: str,
        where: Filter,
        *,
        sort: Sequence[tuple[str, int]] = (),
        limit: int | None = None,
    ) -> list[Document]:
        clause, params = _where(where)
        sql = f"SELECT doc FROM {self._table(collection)} WHERE {clause}"
        if sort:
            order = ", ".join(f"{_expr(name)} {'DESC' if d < 0 else 'ASC'}" for name, d in sort)
            sql += f" ORDER BY {order}"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        rows = await self._read(lambda conn: conn.execute(sql, params).fetchall())
        return [self._decode(collection, row[0]) for row in rows]

    async def count(self, collection: str, where: Filter) -> int:
        clause, params = _where(where)
        sql = f"SELECT count(*) FROM {self._table(collection)} WHERE {clause}"
        row = await self._read(lambda conn: conn.execute(sql, params).fetchone())
        return int(row[0])

    # -- writes ----------------------------------------------------------------------------

    async def write(self, ops: Sequence[Operation]) -> list[int]:
        if self._writer is None:
            raise StorageDown("store is not started")
        for op in ops:
            self._table(op.collection)
        loop = asyncio.get_running_loop()
        job = _Job(ops=ops, loop=loop, future=loop.create_future())
        self._queue.put(job)
        return await job.future

    async def purge_expired(self, now: datetime) -> int:
        ops: list[Operation] = [
            Delete(spec.name, {spec.expires_field: {"$lt": now}})
            for spec in self._specs.values()
            if spec.expires_field
        ]
        return sum(await self.write(ops)) if ops else 0

    def _write_loop(self) -> None:
        # The only thread that answers writes: it must outlive any database error, or every
        # later write would wait forever. A connection that cannot be opened (a read-only
        # file) fails the batch with StorageDown and is tried again for the next one.
        conn: sqlite3.Connection | None = None
        try:
            while True:
                first = self._queue.get()
                if first is _STOP:
                    return
                batch: list[_Job] = [first]
                stop = False
                while len(batch) < self._max_batch:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is _STOP:
                        stop = True
                        break
                    batch.append(item)
                try:
                    conn = conn or self._connect()
                except sqlite3.Error as exc:
                    _fail(batch, exc)
                else:
                    if not self._commit(conn, batch):
                        conn.close()  # stuck in a transaction: a fresh one next time
                        conn = None
                if stop:
                    return
        finally:
            if conn is not None:
                conn.close()

    def _commit(self, conn: sqlite3.Connection, batch: list[_Job]) -> bool:
        """Apply and commit one group; False if the connection is no longer usable."""
        try:
            conn.execute("BEGIN IMMEDIATE")
            for job in batch:
                self._apply_job(conn, job)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            _fail(batch, exc)
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    return False
            return True
        for job in batch:
            job.loop.call_soon_threadsafe(_resolve, job)
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
        setters: list[str] = []
        params: list[Any] = []
        for name, value in op.set.items():
            setters.append(f"'{_path(name)}', json(?)")
            params.append(_dumps(value))
        for name, amount in op.inc.items():
            setters.append(f"'{_path(name)}', coalesce(json_extract(doc, '{_path(name)}'), 0) + ?")
            params.append(amount)
        clause, where_params = _where({"_id": op.id, **op.when})
        try:
            matched = 0
            if setters:
                sql = f"UPDATE {table} SET doc = json_set(doc, {', '.join(setters)}) WHERE {clause}"
                matched = conn.execute(sql, [*params, *where_params]).rowcount
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


def _fail(batch: list[_Job], exc: sqlite3.Error) -> None:
    for job in batch:
        job.error, job.counts = StorageDown(str(exc)), []
        job.loop.call_soon_threadsafe(_resolve, job)


def _resolve(job: _Job) -> None:
    if job.future.cancelled():
        return
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

"""The SQLite store: the `Store` contract on one file, put together from its parts.

* `statements` turns documents, filters and operations into SQL;
* `writer` groups writes into shared transactions and commits them on the commit thread;
* `readers` runs reads on reader threads, or on the loop when they are a lookup;
* `checkpointer` copies the WAL back into the file on a thread of its own;
* `filelock` is the writer turn between processes on one file.

This module opens the connections (one place decides their pragmas), creates the schema at
start-up and checks that every operation names a known collection.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path

from core.storage.port import (
    CollectionSpec,
    Delete,
    Document,
    Filter,
    InsertHooks,
    Operation,
    StorageError,
    changed_index,
    retired_index,
)
from core.storage.sqlite import statements
from core.storage.sqlite import text as fts
from core.storage.sqlite.checkpointer import Checkpointer
from core.storage.sqlite.filelock import FileLock
from core.storage.sqlite.readers import Readers
from core.storage.sqlite.writer import GroupCommitWriter


class SqliteStore:
    expires_by_itself = False  # the worker's purge loop deletes expired rows
    serialises_writes = True  # one writer thread commits a group at a time

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
        self._specs: dict[str, CollectionSpec] = {}
        self._after_insert = InsertHooks()
        # The turn every process writing to this file takes before it writes.
        self._turn = FileLock(path.with_name(path.name + "-writer.lock"))
        self._checkpointer = Checkpointer(
            lambda: self._connect(role="checkpoint"),
            interval=checkpoint_interval,
            limit_pages=wal_limit_pages,
        )
        self._writer = GroupCommitWriter(
            lambda: self._connect(role="writer"),
            turn=self._turn,
            checkpointer=self._checkpointer,
            group_commit=group_commit,
            max_batch=max_batch,
            after_insert=self._after_insert,
        )
        self._readers = Readers(lambda: self._connect(role="reader"), threads=readers)

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
        if role != "reader":
            # Deleted rows are overwritten with zeros, not left in free space in the file:
            # an erased person must not stay readable in the database's bytes (issue 23).
            conn.execute("PRAGMA secure_delete = ON")
        return conn

    async def migrate(
        self, specs: Sequence[CollectionSpec], *, drop_retired: bool = False
    ) -> list[str]:
        """`khaibao db migrate` on SQLite: what `start` does anyway, then the indexes an
        older version created that no spec declares any more, named, or with
        `drop_retired` dropped. Only here: `start` never drops one, since a process of the
        older version may still be running on the file."""
        self._specs = {spec.name: spec for spec in specs}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(self._create_schema)
        retired, changed = await asyncio.to_thread(self._retire_indexes, drop_retired)
        return [
            f"tables and indexes of {len(specs)} collections are in {self.path}",
            *(retired_index(table, name, dropped=drop_retired) for table, name in retired),
            *(
                changed_index(table, name, unique=unique, rebuilt=drop_retired)
                for table, name, unique in changed
            ),
        ]

    async def start(self, specs: Sequence[CollectionSpec]) -> None:
        """Create what is missing (tables, indexes): on SQLite the migration is implicit,
        part of start-up, as cheap as checking."""
        self._specs = {spec.name: spec for spec in specs}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(self._create_schema)
        self._writer.start()
        self._checkpointer.start()

    def _create_schema(self) -> None:
        # In the writer's turn: two processes starting on a new file at once would otherwise
        # both try to switch it to WAL, and SQLite refuses that change at once ("database is
        # locked") instead of waiting.
        conn = self._connect(role="schema")
        try:
            with self._turn:
                conn.execute("PRAGMA journal_mode = WAL")
                for spec in self._specs.values():
                    conn.execute(statements.create_table_sql(spec.name))
                    for sql in statements.create_indexes_sql(spec):
                        conn.execute(sql)
                    fts.create_text_index(conn, spec)
        finally:
            conn.close()

    def _retire_indexes(
        self, drop: bool
    ) -> tuple[list[tuple[str, str]], list[tuple[str, str, bool]]]:
        """(table, index) of each retired index (`statements.retired_indexes`) and (table,
        index, declared uniqueness) of each changed one (`statements.changed_indexes`). When
        `drop` says so, in the writer's turn, the first are dropped and the second built
        again as declared, each in a transaction of its own: an index that cannot be made
        unique (duplicates) stays as it was, and the error says so."""
        conn = self._connect(role="schema")
        try:
            with self._turn:
                retired = [
                    (spec.name, name)
                    for spec in self._specs.values()
                    for name in statements.retired_indexes(conn, spec)
                ]
                changed = [
                    (spec.name, name, sql, unique)
                    for spec in self._specs.values()
                    for name, sql, unique in statements.changed_indexes(conn, spec)
                ]
                if drop:
                    for _, name in retired:
                        conn.execute(f'DROP INDEX IF EXISTS "{_quoted(name)}"')
                    for table, name, sql, _ in changed:
                        self._rebuild_index(conn, table, name, sql)
        finally:
            conn.close()
        return retired, [(table, name, unique) for table, name, _, unique in changed]

    @staticmethod
    def _rebuild_index(conn: sqlite3.Connection, table: str, name: str, sql: str) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(f'DROP INDEX "{_quoted(name)}"')
            conn.execute(sql)
        except sqlite3.IntegrityError as exc:
            conn.execute("ROLLBACK")
            raise StorageError(
                f"cannot rebuild index {table}.{name} as unique: {exc}; it was left as it was"
            ) from exc
        conn.execute("COMMIT")

    async def close(self) -> None:
        await self._writer.close()  # writes already accepted are committed first
        await asyncio.to_thread(self._checkpointer.stop)
        self._turn.close()
        self._readers.close()

    def _table(self, collection: str) -> str:
        if collection not in self._specs:
            raise ValueError(f"unknown collection {collection!r}")
        return f'"{collection}"'

    def _decode(self, collection: str, raw: str) -> Document:
        return statements.decode(raw, self._specs[collection].datetime_fields)

    # -- reads -----------------------------------------------------------------------------

    async def ping(self) -> None:
        await self._readers.read(lambda conn: conn.execute("SELECT 1").fetchone())

    async def get(self, collection: str, document_id: str) -> Document | None:
        return self._probe(collection, "id = ?", [document_id])

    async def find_one(self, collection: str, where: Filter) -> Document | None:
        if self._is_probe(collection, where):
            clause, params = statements.where(where)
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

    def _probe(self, collection: str, clause: str, params: list[object]) -> Document | None:
        sql = f"SELECT doc FROM {self._table(collection)} WHERE {clause}"
        row = self._readers.probe(sql, list(params))
        return self._decode(collection, row[0]) if row else None

    async def find(
        self,
        collection: str,
        where: Filter,
        *,
        sort: Sequence[tuple[str, int]] = (),
        limit: int | None = None,
    ) -> list[Document]:
        clause, params = statements.where(where)
        sql = f"SELECT doc FROM {self._table(collection)} WHERE {clause}"
        if sort:
            order = ", ".join(
                f"{statements.expr(name)} {'DESC' if d < 0 else 'ASC'}" for name, d in sort
            )
            sql += f" ORDER BY {order}"
        rows = await self._readers.rows(sql, params, limit=limit)
        return [self._decode(collection, row[0]) for row in rows]

    async def count(self, collection: str, where: Filter) -> int:
        clause, params = statements.where(where)
        sql = f"SELECT count(*) FROM {self._table(collection)} WHERE {clause}"
        row = await self._readers.read(lambda conn: conn.execute(sql, params).fetchone())
        return int(row[0])

    async def totals(
        self, collection: str, where: Filter, *, by: Sequence[str], sum_of: str
    ) -> list[Document]:
        clause, params = statements.where(where)
        groups = [statements.expr(name) for name in by]
        summed = f"coalesce(sum({statements.expr(sum_of)}), 0)"
        sql = f"SELECT {', '.join([*groups, summed])}, count(*) FROM {self._table(collection)}"
        sql += f" WHERE {clause}" + (f" GROUP BY {', '.join(groups)}" if groups else "")
        rows = await self._readers.read(lambda conn: conn.execute(sql, params).fetchall())
        datetimes = self._specs[collection].datetime_fields
        found: list[Document] = []
        for *values, total, matched in rows:
            if not matched:
                continue  # without GROUP BY, SQL answers one row even when nothing matched
            group = statements.decode_fields(dict(zip(by, values, strict=True)), datetimes)
            found.append({**group, sum_of: total})
        return found

    async def search(
        self, collection: str, text: str, where: Filter | None = None, *, limit: int = 20
    ) -> list[Document]:
        spec = self._specs.get(collection)
        if spec is None or spec.text is None:
            raise ValueError(f"{collection!r} has no text index")
        match = fts.match_expression(text)
        if match is None:
            return []
        clause, params = statements.where(where or {})
        sql = fts.search_sql(spec, clause)
        values = [match, *params, int(limit)]
        rows = await self._readers.read(lambda conn: conn.execute(sql, values).fetchall())
        return [self._decode(collection, row[0]) for row in rows]

    # -- writes ----------------------------------------------------------------------------

    async def write(self, ops: Sequence[Operation]) -> list[int]:
        for op in ops:
            self._table(op.collection)
        return await self._writer.write(ops)

    def after_insert(self, collection: str, callback: Callable[[], None]) -> None:
        """The writer calls it when a group that inserted into `collection` committed."""
        self._table(collection)
        self._after_insert.add(collection, callback)

    async def purge_expired(self, now: datetime) -> int:
        """SQLite has no TTL monitor: the worker's sweep calls this."""
        ops: list[Operation] = [
            Delete(spec.name, {spec.expires_field: {"$lt": now}})
            for spec in self._specs.values()
            if spec.expires_field
        ]
        return sum(await self.write(ops)) if ops else 0


def _quoted(name: str) -> str:
    return name.replace('"', '""')

"""Reads: a small pool of reader threads, and the event loop's own connection for reads as
short as a lookup by key. In WAL mode a reader never waits for the writer.

Which reads stay on the loop is decided here, from the query itself, not by the caller:

* a lookup by a unique key (`probe`), one B-tree lookup;
* a `find` whose plan is one index search starting with an equality (one person's QR codes),
  with no sort step, that turns out to match at most `FEW` documents. It runs on the loop
  with a cap of `FEW + 1` rows and a budget of SQLite VM steps; a query that exceeds either
  is run again, in full, on a reader thread. The hop to a thread was up to a third of a QR
  fetch or a scan, so the reads a request makes on the hot paths must not pay it.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from core.storage.port import StorageDown

T = TypeVar("T")

FEW = 16
# Progress ticks of 100 VM steps each: ≈ 80 rows examined through an index, well under a
# millisecond. Past that, the read is not "a handful" and moves to a thread.
_STEP_TICKS = 10
_NARROW_PLAN = re.compile(r"^SEARCH \S+ USING (COVERING )?INDEX \S+ \((<expr>|id)=\?")


class Readers:
    def __init__(self, connect: Callable[[], sqlite3.Connection], *, threads: int = 4) -> None:
        self._connect = connect
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="sqlite-read")
        self._loop_conn: sqlite3.Connection | None = None
        self._narrow: dict[str, bool] = {}  # SQL text -> whether its plan is narrow

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        if self._loop_conn is not None:
            self._loop_conn.close()
            self._loop_conn = None
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """`fn` on a reader thread's connection."""

        def run() -> T:
            try:
                return fn(self._thread_conn())
            except sqlite3.OperationalError as exc:
                raise StorageDown(str(exc)) from exc

        return await asyncio.get_running_loop().run_in_executor(self._pool, run)

    def on_loop(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """`fn` on the event loop's own reader connection: for reads as short as a probe."""
        try:
            return fn(self._loop_connection())
        except sqlite3.OperationalError as exc:
            raise StorageDown(str(exc)) from exc

    def probe(self, sql: str, params: list[Any]) -> Any:
        """The one row a unique key selects, read on the loop."""
        return self.on_loop(lambda conn: conn.execute(sql, params).fetchone())

    async def rows(self, sql: str, params: list[Any], *, limit: int | None) -> list[Any]:
        """All rows of `sql` (without its LIMIT clause), up to `limit`."""
        if self._is_narrow(sql, params):
            found = self._few_on_loop(sql, params, limit)
            if found is not None:
                return found
        if limit is not None:
            sql, params = sql + " LIMIT ?", [*params, int(limit)]
        return await self.read(lambda conn: conn.execute(sql, params).fetchall())

    def _is_narrow(self, sql: str, params: list[Any]) -> bool:
        narrow = self._narrow.get(sql)
        if narrow is None:
            plan = self.on_loop(
                lambda conn: conn.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
            )
            narrow = len(plan) == 1 and bool(_NARROW_PLAN.match(plan[0][3]))
            self._narrow[sql] = narrow
        return narrow

    def _few_on_loop(self, sql: str, params: list[Any], limit: int | None) -> list[Any] | None:
        """The rows, read on the loop, or None when they are more than a few."""
        cap = FEW + 1 if limit is None else min(int(limit), FEW + 1)
        ticks = 0

        def tick() -> bool:
            nonlocal ticks
            ticks += 1
            return ticks > _STEP_TICKS  # true interrupts the statement

        conn = self.on_loop(lambda conn: conn)  # opened here the first time
        conn.set_progress_handler(tick, 100)
        try:
            found = conn.execute(sql + " LIMIT ?", [*params, cap]).fetchall()
        except sqlite3.OperationalError as exc:
            if ticks > _STEP_TICKS:
                return None
            raise StorageDown(str(exc)) from exc
        finally:
            conn.set_progress_handler(None, 0)
        if len(found) > FEW and (limit is None or limit > FEW):
            return None
        return found

    def _loop_connection(self) -> sqlite3.Connection:
        if self._loop_conn is None:
            self._loop_conn = self._connect()
        return self._loop_conn

    def _thread_conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

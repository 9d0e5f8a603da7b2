"""The group-commit writer: many requests' batches share one transaction and one fsync.

A request adds its batch to the pending group and waits; while one group's COMMIT syncs on
the commit thread, the next group gathers. When the sync returns, the loop applies everything
that gathered (one transaction; a batch that fails, a duplicate key or a precondition, is
retried alone in a savepoint so it does not sink the others) and hands its COMMIT to the
commit thread: under a surge many declarations share one disk flush. With
`group_commit=False` every batch gets its own transaction, the baseline the benchmark
compares against. A batch's future is resolved only after COMMIT returned with
`synchronous=FULL`, so an acknowledged write survives the process being killed.

A group is applied where the requests are: on the event loop, which holds the GIL anyway.
Only its COMMIT, the fsync, goes to the commit thread, which needs the GIL just to start and
to report back. A writer thread applying the statements instead handed the GIL back and forth
with the event loop on every statement, and each hand-over cost more than the statement
(BENCHMARKS.md, "Group commit applied on the event loop"). Groups that may take long (deletes
by filter, batches of many operations) are applied on the commit thread instead, so that the
loop never waits on them.

Once a group is durable, the loop calls the store's callbacks for the collections the group
inserted into (`Store.after_insert`: the report counters' fold, for one), once each, and
then answers the group's requests.

Two threads, one owner each: the event loop owns `_pending`, `_busy` and `_scheduled`; the
commit thread only commits, checkpoints when the checkpoint thread falls behind, and calls
back onto the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.storage.port import Delete, InsertHooks, Operation, StorageDown
from core.storage.sqlite import statements
from core.storage.sqlite.checkpointer import Checkpointer, checkpoint
from core.storage.sqlite.filelock import FileLock

_STOP = object()
_TURN = object()  # for the commit thread: wait for the writer turn, then call the loop
_LIGHT_OPS = 32


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
        thread. A delete of one document by its `_id` (a counter cell a declaration emptied)
        is as light as an update."""
        return len(self.ops) > _LIGHT_OPS or any(
            isinstance(op, Delete) and "_id" not in op.where for op in self.ops
        )


class GroupCommitWriter:
    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        *,
        turn: FileLock,
        checkpointer: Checkpointer,
        group_commit: bool = True,
        max_batch: int = 512,
        after_insert: InsertHooks | None = None,
    ) -> None:
        self._connect = connect
        self._after_insert = InsertHooks() if after_insert is None else after_insert
        # The turn every process writing to this file takes before it writes.
        self._turn = turn
        self._checkpointer = checkpointer
        self._max_batch = max_batch if group_commit else 1
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: list[_Job] = []  # writes waiting for the next group
        self._busy = False  # a group is being applied or committed
        self._scheduled = False  # the next group is already called for
        self._idle = asyncio.Event()
        self._conn: sqlite3.Connection | None = None  # the write connection
        self._commits: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._committer: threading.Thread | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._idle = asyncio.Event()
        self._idle.set()
        self._committer = threading.Thread(
            target=self._commit_loop, name="sqlite-commit", daemon=True
        )
        self._committer.start()

    async def close(self) -> None:
        """Commit the writes already accepted, then stop the commit thread."""
        if self._committer is not None:
            while self._pending or self._busy:
                self._idle.clear()
                self._kick()
                await self._idle.wait()
            self._loop = None  # from here on a write is refused, not left waiting
            self._commits.put(_STOP)
            await asyncio.to_thread(self._committer.join)
            self._committer = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def write(self, ops: Sequence[Operation]) -> list[int]:
        if self._committer is None or self._loop is None:
            raise StorageDown("store is not started")
        if asyncio.get_running_loop() is not self._loop:
            raise RuntimeError("SqliteStore.write must be awaited on the loop that started it")
        job = _Job(ops=ops, future=self._loop.create_future())
        self._pending.append(job)
        self._kick()
        return await job.future

    # -- on the event loop -----------------------------------------------------------------

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

    def _committed(self, batch: list[_Job], usable: bool) -> None:
        """The group is durable (or failed). The next group is applied and sent to sync
        first, so the disk works while this group's requests are answered."""
        if not usable and self._conn is not None:
            self._conn.close()  # stuck in a transaction: a fresh one next time
            self._conn = None
        self._busy = False
        self._next_group()
        if self._after_insert:  # before the writers resume: a callback precedes their answer
            self._after_insert.committed(job.ops for job in batch if job.error is None)
        _resolve(batch)

    # -- on either: applying a group -------------------------------------------------------

    def _writer(self) -> sqlite3.Connection:
        """The write connection, opened again after a failure closed it."""
        self._conn = self._conn or self._connect()
        return self._conn

    def _begin_and_apply(self, conn: sqlite3.Connection, batch: list[_Job]) -> None:
        conn.execute("BEGIN IMMEDIATE")
        if not _apply_all(conn, batch):
            # One batch failed (a duplicate key, a precondition): undo the group and
            # apply each batch in a savepoint of its own, so it fails alone.
            conn.execute("ROLLBACK")
            conn.execute("BEGIN IMMEDIATE")
            for job in batch:
                _apply_job(conn, job)

    # -- on the commit thread --------------------------------------------------------------

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
            self._checkpointer.wal_pages = checkpoint(conn)

    def _call_on_loop(self, callback: Callable[[], None]) -> None:
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed while writes waited
                loop.call_soon_threadsafe(callback)


def _apply_all(conn: sqlite3.Connection, batch: list[_Job]) -> bool:
    """Every batch of the group without a savepoint each (two statements fewer per batch);
    False, with the transaction to be undone, when one of them fails."""
    try:
        for job in batch:
            job.counts = [statements.apply(conn, op) for op in job.ops]
    except sqlite3.OperationalError:
        raise  # the database itself failed: the whole group fails
    except Exception:  # retried batch by batch, which reports it
        return False
    return True


def _apply_job(conn: sqlite3.Connection, job: _Job) -> None:
    conn.execute("SAVEPOINT job")
    try:
        job.counts = [statements.apply(conn, op) for op in job.ops]
    except sqlite3.OperationalError:
        raise  # the database itself failed: the whole group fails
    except Exception as exc:  # one batch's failure must not sink its neighbours
        conn.execute("ROLLBACK TO job")
        job.error, job.counts = exc, []
    conn.execute("RELEASE job")


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

"""The checkpoint thread: copies the WAL back into the database file beside the commits."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable


def checkpoint(conn: sqlite3.Connection) -> int:
    """A passive checkpoint (it never waits for a writer); the pages in the WAL."""
    return int(conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1])


class Checkpointer:
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
        # What the commit thread calls after each commit: the event's own `set`, so a commit
        # wakes this thread and runs none of its code.
        self.committed: Callable[[], None] = self._wake.set

    def start(self) -> None:
        self._thread.start()

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
                    self.wal_pages = checkpoint(conn)
                except sqlite3.Error:
                    if conn is not None:
                        conn.close()
                    conn = None  # a failing disk: the commits report it; try again later
                if self._stopping.wait(self.interval):
                    return
        finally:
            if conn is not None:
                conn.close()

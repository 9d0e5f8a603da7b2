"""The writer turn between processes on one SQLite file: a lock file taken with flock."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: SQLite's own locking alone
    fcntl = None  # type: ignore[assignment]


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

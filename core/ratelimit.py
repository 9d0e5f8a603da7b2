"""Fixed-window rate limits shared by every process, so `--workers 4` and several machines
count as one.

Where the counts live:
* Redis, when `KHAIBAO_REDIS_URL` is set (INCR + EXPIRE in one round trip).
* Otherwise, on the embedded SQLite default, a small side file `<database>.ratelimit`
  with `synchronous=OFF`: shared by all workers on the machine, and cheap, because losing
  a minute of counts in a power cut is harmless while an fsync per request is not.
* Otherwise (MongoDB without Redis), the main store.

A limiter that cannot count lets the request through (availability first; a Redis outage
must not stop declarations). The brute-force guard on one-time codes does not rely on it:
wrong attempts are counted on the code's own record in the database.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from core.errors import RateLimited
from core.storage import CollectionSpec, StorageError, Store, Update
from core.storage.sqlite.filelock import FileLock

log = logging.getLogger(__name__)

RATE_LIMITS = CollectionSpec(
    "rate_limits", datetime_fields=frozenset({"expires_at"}), expires_field="expires_at"
)


class Counter(Protocol):
    async def incr(self, key: str, window_seconds: int) -> int | None:
        """Add one to `key` and return the new count, or None if it cannot count now."""
        ...


class RedisCounter:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def incr(self, key: str, window_seconds: int) -> int | None:
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incr(key)
                pipe.expire(key, window_seconds + 1)
                count, _ = await pipe.execute()
            return int(count)
        except (RedisError, OSError):
            log.warning("rate limiter unavailable, letting request through")
            return None


class SqliteCounter:
    """Counts in a side SQLite file. Calls are short and made on the event loop: one upsert
    without fsync."""

    def __init__(self, path: Path) -> None:
        self._conn = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, timeout=0.05
        )
        # Every worker process counts in this file on every request: they take turns
        # through a lock file, not through SQLite's sleeping busy handler, and give up
        # (letting the request through) after 50 ms, as before.
        self._turn = FileLock(path.with_name(path.name + ".lock"), timeout=0.05)
        # Workers starting together on a new file would all switch it to WAL at once, which
        # SQLite refuses outright ("database is locked"): at start they wait for their turn.
        with self._turn.waiting():
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS hits (key TEXT PRIMARY KEY, n INTEGER, until REAL)"
            )
        self._conn.execute("PRAGMA synchronous = OFF")
        self._lock = threading.Lock()
        self._last_sweep = 0.0

    async def incr(self, key: str, window_seconds: int) -> int | None:
        now = time.time()
        try:
            with self._lock, self._turn:
                if now - self._last_sweep > 60:
                    self._conn.execute("DELETE FROM hits WHERE until < ?", (now,))
                    self._last_sweep = now
                # A window that has ended starts again at 1, whether or not the sweep
                # has removed its row yet.
                row = self._conn.execute(
                    "INSERT INTO hits (key, n, until) VALUES (:key, 1, :until) "
                    "ON CONFLICT(key) DO UPDATE SET "
                    "n = CASE WHEN until < :now THEN 1 ELSE n + 1 END, "
                    "until = CASE WHEN until < :now THEN :until ELSE until END "
                    "RETURNING n",
                    {"key": key, "until": now + window_seconds, "now": now},
                ).fetchone()
            return int(row[0])
        except (sqlite3.Error, TimeoutError):
            log.warning("rate limiter unavailable, letting request through")
            return None

    def close(self) -> None:
        self._turn.close()
        self._conn.close()


class StoreCounter:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def incr(self, key: str, window_seconds: int) -> int | None:
        expires = datetime.now(UTC) + timedelta(seconds=window_seconds + 1)
        try:
            await self._store.write(
                [Update("rate_limits", key, inc={"n": 1}, set={"expires_at": expires}, upsert=True)]
            )
            found = await self._store.get("rate_limits", key)
        except StorageError:
            return None
        return int(found["n"]) if found else None


class RateLimiter:
    def __init__(self, counter: Counter) -> None:
        self._counter = counter

    def close(self) -> None:
        if isinstance(self._counter, SqliteCounter):
            self._counter.close()

    async def hit(self, bucket: str, *, limit: int, window_seconds: int) -> None:
        """Count one hit in `bucket`; raise RateLimited once the window's limit is passed.

        `bucket` must hold no personal data in clear: callers pass keyed hashes.
        """
        now = time.time()
        window = int(now // window_seconds)
        count = await self._counter.incr(f"rl:{bucket}:{window}", window_seconds)
        if count is not None and count > limit:
            raise RateLimited(int((window + 1) * window_seconds - now) + 1)


def make_counter(store: Store, redis: Redis | None, sqlite_path: Path | None) -> Counter:
    if redis is not None:
        return RedisCounter(redis)
    if sqlite_path is not None:
        return SqliteCounter(sqlite_path.with_name(sqlite_path.name + ".ratelimit"))
    return StoreCounter(store)

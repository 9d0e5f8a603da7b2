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

`hit` counts in the shared store on every call: for limits of a few per minute (sign-in
codes) that must hold exactly. `attempt` and `forgive` count failures (wrong staff
passwords): each try is counted before it is judged, so tries sent at once cannot all pass
a check made before any of them failed, and a try that succeeds is taken back.

Windows are fixed: a minute's or an hour's starts on the minute or hour, and a window of
whole days starts at midnight in Vietnam (`core.clock.VIETNAM`), not UTC: a daily limit
(exports, questions, declarations per person, entries per passport) resets when the
people it limits start a new day, and "today" in its refusal means their today.

`hit_soon` is for the flood guard every request passes: it counts in process and adds its
counts to the shared store once a second, so a request costs a dictionary update instead
of a write; other processes' hits are seen a second late, which lets a flood from one
address overshoot by at most a second of its rate.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from core.clock import VIETNAM
from core.errors import RateLimited
from core.storage import (
    CollectionSpec,
    Delete,
    Document,
    DuplicateKey,
    Insert,
    Operation,
    PreconditionFailed,
    StorageError,
    Store,
    Update,
)
from core.storage.sqlite.filelock import FileLock

log = logging.getLogger(__name__)

# How often `hit_soon`'s in-process counts are added to the shared ones.
SYNC_SECONDS = 1.0
# Shared totals a process remembers per window (`_forget_oldest`): about 10 MB.
SHARED_PER_WINDOW = 100_000

Window = tuple[int, int]  # (its length in seconds, its number since the epoch)

DAY = 86_400
# Where whole-day windows are counted from: Vietnam's midnight, UTC+7 all year.
_DAY_STARTS = int(VIETNAM.utcoffset(None).total_seconds())

RATE_LIMITS = CollectionSpec(
    "rate_limits", datetime_fields=frozenset({"expires_at"}), expires_field="expires_at"
)


class Counter(Protocol):
    async def incr(self, key: str, window_seconds: int, amount: int = 1) -> int | None:
        """Add `amount` to `key` and return the new count, or None if it cannot count now."""
        ...

    async def incr_many(self, amounts: dict[str, int], window_seconds: int) -> dict[str, int]:
        """`incr` for many keys at once: the new counts of those it could count."""
        ...

    async def reset(self, key: str) -> bool:
        """Start `key` again from nothing; False if it cannot now."""
        ...


class RedisCounter:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def incr(self, key: str, window_seconds: int, amount: int = 1) -> int | None:
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incrby(key, amount)
                pipe.expire(key, window_seconds + 1)
                count, _ = await pipe.execute()
            return int(count)
        except (RedisError, OSError):
            log.warning("rate limiter unavailable, letting request through")
            return None

    async def incr_many(self, amounts: dict[str, int], window_seconds: int) -> dict[str, int]:
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key, amount in amounts.items():
                    pipe.incrby(key, amount)
                    pipe.expire(key, window_seconds + 1)
                replies = await pipe.execute()
        except (RedisError, OSError):
            log.warning("rate limiter unavailable, letting requests through")
            return {}
        return {key: int(count) for key, count in zip(amounts, replies[::2], strict=True)}

    async def reset(self, key: str) -> bool:
        try:
            await self._redis.delete(key)
        except (RedisError, OSError):
            return False
        return True


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

    async def incr(self, key: str, window_seconds: int, amount: int = 1) -> int | None:
        return (await self.incr_many({key: amount}, window_seconds)).get(key)

    async def incr_many(self, amounts: dict[str, int], window_seconds: int) -> dict[str, int]:
        now = time.time()
        counts: dict[str, int] = {}
        try:
            with self._lock, self._turn:
                if now - self._last_sweep > 60:
                    self._conn.execute("DELETE FROM hits WHERE until < ?", (now,))
                    self._last_sweep = now
                self._conn.execute("BEGIN")
                try:
                    for key, amount in amounts.items():
                        counts[key] = self._add(key, amount, now, window_seconds)
                finally:
                    self._conn.execute("COMMIT")
        except (sqlite3.Error, TimeoutError):
            log.warning("rate limiter unavailable, letting request through")
            return {}
        return counts

    async def reset(self, key: str) -> bool:
        try:
            with self._lock, self._turn:
                self._conn.execute("DELETE FROM hits WHERE key = ?", (key,))
        except (sqlite3.Error, TimeoutError):
            return False
        return True

    def _add(self, key: str, amount: int, now: float, window_seconds: int) -> int:
        # A window that has ended starts again, whether or not the sweep has removed its
        # row yet.
        row = self._conn.execute(
            "INSERT INTO hits (key, n, until) VALUES (:key, :amount, :until) "
            "ON CONFLICT(key) DO UPDATE SET "
            "n = CASE WHEN until < :now THEN :amount ELSE n + :amount END, "
            "until = CASE WHEN until < :now THEN :until ELSE until END "
            "RETURNING n",
            {"key": key, "until": now + window_seconds, "now": now, "amount": amount},
        ).fetchone()
        return int(row[0])

    def close(self) -> None:
        self._turn.close()
        self._conn.close()


class StoreCounter:
    """Counts in the main store. Each call learns its own count, as Redis's INCR tells it:
    the count is added by a compare-and-set on the count read, so calls made at once are
    numbered one by one (a limit reached is seen by exactly one of them). Past
    `_EXACT_TRIES` lost races it adds without the compare and reads the total back, which
    can only count high: a flood is refused early rather than let through."""

    _EXACT_TRIES = 8

    def __init__(self, store: Store) -> None:
        self._store = store

    async def incr(self, key: str, window_seconds: int, amount: int = 1) -> int | None:
        expires = datetime.now(UTC) + timedelta(seconds=window_seconds + 1)
        try:
            for _ in range(self._EXACT_TRIES):
                found = await self._store.get("rate_limits", key)
                count = amount + (int(found["n"]) if found else 0)
                try:
                    await self._store.write([_counted(key, found, amount, expires)])
                except (DuplicateKey, PreconditionFailed):
                    continue
                return count
            await self._store.write(
                [
                    Update(
                        "rate_limits",
                        key,
                        inc={"n": amount},
                        set={"expires_at": expires},
                        upsert=True,
                    )
                ]
            )
            found = await self._store.get("rate_limits", key)
        except StorageError:
            return None
        return int(found["n"]) if found else None

    async def incr_many(self, amounts: dict[str, int], window_seconds: int) -> dict[str, int]:
        counts = {
            key: await self.incr(key, window_seconds, amount) for key, amount in amounts.items()
        }
        return {key: count for key, count in counts.items() if count is not None}

    async def reset(self, key: str) -> bool:
        try:
            await self._store.write([Delete("rate_limits", {"_id": key})])
        except StorageError:
            return False
        return True


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try counted by `RateLimiter.attempt`."""

    key: str
    window_seconds: int
    # Tries in this window, this one included; None when the limiter could not count.
    count: int | None
    # Seconds until the window ends and the count starts again.
    retry_after: int


def _counted(key: str, found: Document | None, amount: int, expires: datetime) -> Operation:
    """Add `amount` to the count `found` holds, only while it still holds it."""
    if found is None:
        return Insert("rate_limits", {"_id": key, "n": amount, "expires_at": expires})
    return Update(
        "rate_limits",
        key,
        inc={"n": amount},
        set={"expires_at": expires},
        when={"n": found["n"]},
        must_match=True,
    )


class RateLimiter:
    def __init__(self, counter: Counter, *, sync_seconds: float = SYNC_SECONDS) -> None:
        self._counter = counter
        self._sync_seconds = sync_seconds
        # `hit_soon`'s counts, per window (its length and number) and bucket: hits not yet
        # added to the shared store, and the shared count as of the last time they were.
        # Kept per window so that a window that ends is dropped whole: an hour's window
        # holds every account that declared in that hour.
        self._pending: dict[Window, dict[str, int]] = {}
        self._shared: dict[Window, dict[str, int]] = {}
        self._next_sync = 0.0
        self._syncing: asyncio.Task[None] | None = None

    def close(self) -> None:
        if self._syncing is not None:
            self._syncing.cancel()
        if isinstance(self._counter, SqliteCounter):
            self._counter.close()

    async def hit(self, bucket: str, *, limit: int, window_seconds: int) -> None:
        """Count one hit in `bucket`; raise RateLimited once the window's limit is passed.

        `bucket` must hold no personal data in clear: callers pass keyed hashes.
        """
        attempt = await self.attempt(bucket, window_seconds=window_seconds)
        if attempt.count is not None and attempt.count > limit:
            raise RateLimited(attempt.retry_after)

    async def attempt(self, bucket: str, *, window_seconds: int) -> Attempt:
        """Count one try in `bucket` before it is judged; the caller compares the count
        with its limit. `bucket` follows `hit`'s rule: no personal data in clear."""
        window, retry_after = window_of(time.time(), window_seconds)
        key = f"rl:{bucket}:{window}"
        count = await self._counter.incr(key, window_seconds)
        return Attempt(key, window_seconds, count, retry_after)

    async def forgive(self, attempt: Attempt) -> None:
        """Take back a counted try that turned out not to count (a right password)."""
        if attempt.count is not None:
            await self._counter.incr(attempt.key, attempt.window_seconds, -1)

    async def clear(self, bucket: str, *, window_seconds: int) -> bool:
        """Forget the tries counted in `bucket`'s running window, as if none had been made
        (an administrator lifts a lock-out). False if the limiter cannot reach its counts."""
        window, _ = window_of(time.time(), window_seconds)
        return await self._counter.reset(f"rl:{bucket}:{window}")

    def hit_soon(self, bucket: str, *, limit: int, window_seconds: int) -> None:
        """`hit`, counted in process and shared within `sync_seconds` (see module doc).

        Must be called on the event loop. `bucket` follows `hit`'s rule: no personal data.
        """
        now = time.time()
        window, retry_after = window_of(now, window_seconds)
        hits = self._pending.get((window_seconds, window))
        if hits is None:
            hits = self._pending[(window_seconds, window)] = {}
        pending = hits[bucket] = hits.get(bucket, 0) + 1
        if now >= self._next_sync and self._syncing is None:
            self._next_sync = now + self._sync_seconds
            self._syncing = asyncio.get_running_loop().create_task(self.share(now))
        shared = self._shared.get((window_seconds, window))
        if (shared.get(bucket, 0) if shared else 0) + pending > limit:
            raise RateLimited(retry_after)

    async def share(self, now: float | None = None) -> None:
        """Add `hit_soon`'s counts to the shared store and learn everyone's totals."""
        now = time.time() if now is None else now
        try:
            # Hits made while this awaits go to new pending counts, added next time. Only
            # the windows still running are kept: the cost is the buckets hit since the
            # last share, not every bucket of the hour.
            pending, self._pending = self._pending, {}
            self._shared = {w: t for w, t in self._shared.items() if _running(w, now)}
            for (window_seconds, window), hits in pending.items():
                if not _running((window_seconds, window), now):
                    continue
                shared = self._shared.setdefault((window_seconds, window), {})
                # Counted as shared already while the store adds them: they are no longer
                # pending, and a flood must not slip through the moment this awaits.
                for bucket, count in hits.items():
                    shared[bucket] = shared.get(bucket, 0) + count
                names = {f"rl:{bucket}:{window}": bucket for bucket in hits}
                amounts = {name: hits[bucket] for name, bucket in names.items()}
                totals = await self._counter.incr_many(amounts, window_seconds)
                for name, total in totals.items():
                    shared[names[name]] = total
                _forget_oldest(shared, SHARED_PER_WINDOW)
        finally:
            self._syncing = None


def window_of(now: float, window_seconds: int) -> tuple[int, int]:
    """The number of the window `now` falls in, and the seconds until the next one starts
    (rounded up). Windows of whole days are counted from Vietnam's midnight."""
    shift = _DAY_STARTS if window_seconds % DAY == 0 else 0
    number = int((now + shift) // window_seconds)
    return number, int((number + 1) * window_seconds - shift - now) + 1


def _running(window: Window, now: float) -> bool:
    window_seconds, number = window
    return number == window_of(now, window_seconds)[0]


def _forget_oldest(totals: dict[str, int], keep: int) -> None:
    """Forget the shared totals learnt longest ago beyond `keep`: the memory of a process
    stays bounded however many accounts declare in an hour. A forgotten bucket is counted
    again from its own pending hits, and learns its shared total at the next share, a
    second later, as any bucket does."""
    for bucket in list(itertools.islice(totals, max(0, len(totals) - keep))):
        del totals[bucket]


def make_counter(store: Store, redis: Redis | None, sqlite_path: Path | None) -> Counter:
    if redis is not None:
        return RedisCounter(redis)
    if sqlite_path is not None:
        return SqliteCounter(sqlite_path.with_name(sqlite_path.name + ".ratelimit"))
    return StoreCounter(store)

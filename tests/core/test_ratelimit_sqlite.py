"""The embedded default's rate-limit counts, in their side file."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from core.errors import RateLimited
from core.ratelimit import RateLimiter, SqliteCounter


async def test_counts_grow_within_a_window(tmp_path: Path) -> None:
    counter = SqliteCounter(tmp_path / "khaibao.ratelimit")
    try:
        counts = [await counter.incr("req:a", window_seconds=60) for _ in range(3)]
        other = await counter.incr("req:b", window_seconds=60)
    finally:
        counter.close()
    assert counts == [1, 2, 3]
    assert other == 1


async def test_an_ended_window_starts_again_at_one_before_any_sweep(tmp_path: Path) -> None:
    path = tmp_path / "khaibao.ratelimit"
    counter = SqliteCounter(path)
    try:
        await counter.incr("req:a", window_seconds=60)
        # Another worker process sees the same file: make the window end in the past.
        with sqlite3.connect(path) as other_process:
            other_process.execute(
                "UPDATE hits SET n = 500, until = ? WHERE key = 'req:a'", (time.time() - 1,)
            )
        assert await counter.incr("req:a", window_seconds=60) == 1
        assert await counter.incr("req:a", window_seconds=60) == 2
    finally:
        counter.close()


class TestCountedInProcessSharedEachSecond:
    """`RateLimiter.hit_soon`, the flood guard on every request: counted in process, and
    every process's counts added to the shared file when it shares (once a second)."""

    async def test_one_process_refuses_past_the_limit_without_waiting_to_share(
        self, tmp_path: Path
    ) -> None:
        limiter = RateLimiter(SqliteCounter(tmp_path / "khaibao.ratelimit"), sync_seconds=3600)
        try:
            for _ in range(5):
                limiter.hit_soon("req:a", limit=5, window_seconds=60)
            with pytest.raises(RateLimited) as refused:
                limiter.hit_soon("req:a", limit=5, window_seconds=60)
            limiter.hit_soon("req:b", limit=5, window_seconds=60)  # another address
        finally:
            await asyncio.sleep(0)  # the first hit started a share
            limiter.close()
        assert 1 <= int((refused.value.headers or {})["Retry-After"]) <= 61

    async def test_hits_being_shared_still_count_while_the_store_adds_them(
        self, tmp_path: Path
    ) -> None:
        # A share awaits the store; a flood's requests keep arriving meanwhile. The hits it
        # is adding were once counted nowhere until it returned, so a batch of declarations
        # got one past the person's daily limit (CI, on a busy machine).
        counter = SqliteCounter(tmp_path / "khaibao.ratelimit")
        adding, release = asyncio.Event(), asyncio.Event()
        incr_many = counter.incr_many

        async def slow_incr_many(amounts: dict[str, int], window_seconds: int) -> dict[str, int]:
            adding.set()
            await release.wait()
            return await incr_many(amounts, window_seconds)

        counter.incr_many = slow_incr_many  # type: ignore[method-assign]
        limiter = RateLimiter(counter, sync_seconds=3600)
        try:
            for _ in range(4):
                limiter.hit_soon("req:a", limit=5, window_seconds=60)
            sharing = asyncio.create_task(limiter.share())
            await adding.wait()
            limiter.hit_soon("req:a", limit=5, window_seconds=60)  # the fifth
            with pytest.raises(RateLimited):
                limiter.hit_soon("req:a", limit=5, window_seconds=60)
            release.set()
            await sharing
            with pytest.raises(RateLimited):
                limiter.hit_soon("req:a", limit=5, window_seconds=60)
        finally:
            release.set()
            limiter.close()

    async def test_hits_in_another_process_count_once_shared(self, tmp_path: Path) -> None:
        path = tmp_path / "khaibao.ratelimit"
        worker_1 = RateLimiter(SqliteCounter(path), sync_seconds=3600)
        worker_2 = RateLimiter(SqliteCounter(path), sync_seconds=3600)
        try:
            await asyncio.sleep(0)
            for _ in range(15):
                worker_1.hit_soon("req:a", limit=20, window_seconds=60)
            for _ in range(5):
                worker_2.hit_soon("req:a", limit=20, window_seconds=60)
            await worker_1.share()
            await worker_2.share()  # learns 20 in all
            with pytest.raises(RateLimited):
                worker_2.hit_soon("req:a", limit=20, window_seconds=60)
        finally:
            worker_1.close()
            worker_2.close()
        with sqlite3.connect(path) as shared:
            (count,) = shared.execute("SELECT n FROM hits WHERE key LIKE 'rl:req:a:%'").fetchone()
        assert count == 20  # every hit counted once; the refused one is added next time

    async def test_a_bucket_forgotten_to_bound_memory_is_refused_again_after_a_share(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A process remembers a bounded number of shared totals per window (an hour's
        window would otherwise hold every account that declared in it). A bucket whose
        total it forgot is let through once more, and refused again a share later."""
        monkeypatch.setattr("core.ratelimit.SHARED_PER_WINDOW", 2)
        path = tmp_path / "khaibao.ratelimit"
        worker_1 = RateLimiter(SqliteCounter(path), sync_seconds=3600)
        worker_2 = RateLimiter(SqliteCounter(path), sync_seconds=3600)
        try:
            await asyncio.sleep(0)
            for _ in range(19):
                worker_1.hit_soon("req:a", limit=20, window_seconds=60)
            await worker_1.share()
            worker_2.hit_soon("req:a", limit=20, window_seconds=60)
            await worker_2.share()  # learns req:a's 20
            for bucket in ("req:b", "req:c"):
                worker_2.hit_soon(bucket, limit=20, window_seconds=60)
            await worker_2.share()  # three buckets known, two remembered: req:a forgotten
            worker_2.hit_soon("req:a", limit=20, window_seconds=60)  # let through
            await worker_2.share()  # learns req:a's 21
            with pytest.raises(RateLimited):
                worker_2.hit_soon("req:a", limit=20, window_seconds=60)
        finally:
            worker_1.close()
            worker_2.close()

    async def test_a_new_window_starts_afresh(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        clock = [3_600_000.0]
        monkeypatch.setattr("core.ratelimit.time.time", lambda: clock[0])
        limiter = RateLimiter(SqliteCounter(tmp_path / "khaibao.ratelimit"), sync_seconds=3600)
        try:
            for _ in range(5):
                limiter.hit_soon("req:a", limit=5, window_seconds=60)
            await limiter.share()
            with pytest.raises(RateLimited):
                limiter.hit_soon("req:a", limit=5, window_seconds=60)
            clock[0] += 60  # the next minute
            for _ in range(5):
                limiter.hit_soon("req:a", limit=5, window_seconds=60)
            await limiter.share()
            with pytest.raises(RateLimited):
                limiter.hit_soon("req:a", limit=5, window_seconds=60)
        finally:
            limiter.close()

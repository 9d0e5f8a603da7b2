"""The embedded default's rate-limit counts, in their side file."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from core.ratelimit import SqliteCounter


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

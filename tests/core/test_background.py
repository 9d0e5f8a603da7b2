"""Background loops stop when the process stops, even when a database call swallows the
cancellation. The MongoDB driver, cancelled mid-operation, sometimes raised its own error or
returned instead; the loop took that for a failed round and slept on, and the shutdown that
waited for it hung (a test's app never closed on the MongoDB adapter)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from core.background import repeat

log = logging.getLogger(__name__)


class DriverLike:
    """A job whose call, when cancelled, does what the driver did: `mode` "raise" turns the
    cancellation into an error of its own, "return" swallows it and returns."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.started = asyncio.Event()
        self.rounds = 0

    async def __call__(self) -> None:
        self.rounds += 1
        self.started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            if self.mode == "raise":
                raise ConnectionError("operation cancelled") from None
            if self.mode == "cooperate":
                raise


@pytest.mark.parametrize("mode", ["raise", "return"])
async def test_a_loop_stops_though_its_job_swallowed_the_cancellation(mode: str) -> None:
    job = DriverLike(mode)
    loop = asyncio.create_task(repeat(job, seconds=0.01, what="job", log=log))
    await job.started.wait()
    loop.cancel()
    # A guard against hanging the suite, not a measurement: the loop ends at once or never.
    done, _ = await asyncio.wait([loop], timeout=10)
    if loop not in done:
        job.mode = "cooperate"  # let it end, so the failure is reported instead of a hang
        loop.cancel()
    assert loop in done, "the loop went on after it was cancelled"
    assert loop.cancelled()
    assert job.rounds == 1


async def test_a_failed_round_is_retried_on_the_next() -> None:
    calls: list[int] = []
    finished = asyncio.Event()

    async def flaky() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("database away")
        finished.set()

    loop = asyncio.create_task(repeat(flaky, seconds=0, what="flaky job", log=log))
    await finished.wait()
    loop.cancel()
    with pytest.raises(asyncio.CancelledError):
        await loop
    assert len(calls) == 2

"""Jobs a process runs in the background for as long as it lives (the outbox relay, the
public map's refresh, retention, the monitoring jobs, the trust-list refresh).

A background loop logs a failed round and tries again next round, so it catches
`Exception`. That must not catch its own end: the MongoDB driver, cancelled in the middle of
an operation, can raise its own error (or return) instead of `CancelledError`, and a loop
that took that for a failed round slept on, still marked as being cancelled, while the
shutdown waited for it forever (seen in tests on the MongoDB adapter). So a loop asks
`stop_if_cancelled()` after every round: a cancellation requested is a cancellation done.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable


def stop_if_cancelled() -> None:
    """Raise `CancelledError` if this task has been asked to stop, whatever a call swallowed."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def repeat(
    job: Callable[[], Awaitable[object]], *, seconds: float, what: str, log: logging.Logger
) -> None:
    """Run `job` now and then every `seconds` until cancelled; a failed round is logged as
    "`what` failed; will retry" and the next round runs on time."""
    while True:
        try:
            await job()
        except Exception:
            stop_if_cancelled()
            log.exception("%s failed; will retry", what)
        stop_if_cancelled()
        await asyncio.sleep(seconds)

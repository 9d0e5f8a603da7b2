"""Notices when the event loop has a standing queue, so the edge can shed load before
phones time out.

A count of in-flight requests cannot see the queue that matters in a surge: a CPU-bound
process finishes the requests it admitted quickly, while many more wait in socket buffers
to be accepted, read and parsed. What does show that queue is how late the loop runs a
timer. A short burst makes a few timers late; a standing queue makes every one of them
late. So, as CoDel does for packet queues, the process counts as overloaded only when the
*smallest* lateness over a whole window exceeds the target, and stops counting as
overloaded at the first timer that runs on time (shedding is cheap, so the queue drains).
One long stall (a large report, a slow disk) is one late timer, not a queue: a few late
timers in a row are needed.
"""

from __future__ import annotations

import asyncio
import time

# How often the probe timer runs, and how long lateness must persist to count as a queue.
PROBE_INTERVAL_SECONDS = 0.01
WINDOW_SECONDS = 0.25
LATE_PROBES = 3


class LoopLag:
    def __init__(self, target_seconds: float) -> None:
        self.target = target_seconds
        self.overloaded = False
        self._late_since: float | None = None  # when the current run of late timers began
        self._late_probes = 0

    def record(self, now: float, lateness: float) -> None:
        """Take one probe: the timer was due at `now - lateness` and ran at `now`."""
        if lateness <= self.target:
            self.overloaded = False
            self._late_since = None
            self._late_probes = 0
            return
        if self._late_since is None:
            self._late_since = now - lateness
        self._late_probes += 1
        if now - self._late_since >= WINDOW_SECONDS and self._late_probes >= LATE_PROBES:
            self.overloaded = True

    async def probe_forever(self) -> None:
        while True:
            due = time.monotonic() + PROBE_INTERVAL_SECONDS
            await asyncio.sleep(PROBE_INTERVAL_SECONDS)
            now = time.monotonic()
            self.record(now, max(0.0, now - due))

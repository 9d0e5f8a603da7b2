"""A fixed-arrival-rate HTTP/1.1 client, for latency at a given load (what wrk2 does; wrk2
is not packaged for Debian).

Requests are scheduled at `start + i / rate`, whatever happened to earlier ones, and each
latency is measured from its scheduled time, not from when a connection was free to send
it. A closed-loop tool (wrk, Locust without a rate) waits for answers before sending more
and so hides queueing ("coordinated omission"); this client does not. It holds a pool of
keep-alive connections, far more than rate × latency needs, so that a slow answer delays
only its own connection.

The client is deliberately small: prebuilt request bytes, Content-Length bodies, uvloop.
At a few thousand requests a second it needs a fraction of one core.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import uvloop

from load.outcomes import percentile


@dataclass
class OpenLoopResult:
    rate: float
    duration: float
    scheduled: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    failures: int = 0  # no answer: connection refused, reset, timeout
    by_status_ms: dict[int, list[float]] = field(default_factory=dict)
    # Time a request waited in this client for a free connection: if it is large, the
    # client, not the server, was the queue (more connections needed).
    client_wait_ms: list[float] = field(default_factory=list)

    @property
    def answered(self) -> int:
        return len(self.latencies_ms)

    @property
    def errors(self) -> int:
        """Failures and answers other than 2xx."""
        non_2xx = sum(n for status, n in self.statuses.items() if not 200 <= status < 300)
        return self.failures + non_2xx

    @property
    def error_rate(self) -> float:
        total = self.answered + self.failures
        return self.errors / total if total else 0.0

    @property
    def achieved_rate(self) -> float:
        return self.answered / self.duration if self.duration else 0.0

    def p(self, share: float) -> float | None:
        return percentile(self.latencies_ms, share)

    def p_of(self, statuses: frozenset[int], share: float) -> float | None:
        """Percentile over the answers with these statuses only (admitted, or shed)."""
        values = [ms for status in statuses for ms in self.by_status_ms.get(status, [])]
        return percentile(values, share)

    def count_of(self, statuses: frozenset[int]) -> int:
        return sum(self.statuses.get(status, 0) for status in statuses)


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
        elif name.strip().lower() == b"transfer-encoding":
            raise ValueError("chunked answers are not supported by this client")
    if length:
        await reader.readexactly(length)
    return status


async def _open_loop(
    host: str,
    port: int,
    make_request: Callable[[int], bytes],
    rate: float,
    duration: float,
    connections: int,
    patience: float,
) -> OpenLoopResult:
    result = OpenLoopResult(rate=rate, duration=duration)
    due: asyncio.Queue[tuple[int, float] | None] = asyncio.Queue()

    async def connection() -> None:
        stream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        while True:
            item = await due.get()
            if item is None:
                break
            index, scheduled = item
            try:
                if stream is None:
                    stream = await asyncio.wait_for(asyncio.open_connection(host, port), patience)
                reader, writer = stream
                result.client_wait_ms.append((time.perf_counter() - scheduled) * 1000)
                writer.write(make_request(index))
                status = await asyncio.wait_for(_read_response(reader), patience)
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
                result.failures += 1
                if stream is not None:
                    stream[1].close()
                stream = None
                continue
            elapsed_ms = (time.perf_counter() - scheduled) * 1000
            result.latencies_ms.append(elapsed_ms)
            result.statuses[status] = result.statuses.get(status, 0) + 1
            result.by_status_ms.setdefault(status, []).append(elapsed_ms)
        if stream is not None:
            stream[1].close()

    workers = [asyncio.create_task(connection()) for _ in range(connections)]
    total = int(rate * duration)
    start = time.perf_counter() + 0.05
    index = 0
    while index < total:
        now = time.perf_counter()
        # Enqueue everything that is due; sleeping per request would drift at high rates.
        while index < total and start + index / rate <= now:
            due.put_nowait((index, start + index / rate))
            index += 1
        if index < total:
            await asyncio.sleep(max(0.0, start + index / rate - time.perf_counter()))
    result.scheduled = total
    for _ in workers:
        due.put_nowait(None)
    await asyncio.gather(*workers)
    return result


def run_open_loop(
    host: str,
    port: int,
    make_request: Callable[[int], bytes],
    *,
    rate: float,
    duration: float,
    connections: int = 128,
    timeout: float = 10.0,
) -> OpenLoopResult:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(
            _open_loop(host, port, make_request, rate, duration, connections, timeout)
        )


def http_request(
    method: str,
    path: str,
    *,
    host: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")

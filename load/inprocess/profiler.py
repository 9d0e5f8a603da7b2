"""CPU per request of one endpoint, in-process and split by thread: the app is called as
ASGI (no HTTP parsing, no load generator on the same cores), 64 requests at a time.

    python -m load.inprocess scan          # or submit, noop, noop_resolved; --requests N
    python -m load.inprocess scan --files  # each file of ours one scan runs code in

It seeds a database through a real server first (staff, checkpoints, declarations, QR
codes), as `khaibao bench` does, stops it, and serves the same file from this process.
Printed per request: wall time (at saturation, the event loop's time per request),
process CPU, bytes written to files (the WAL and the checkpoints' copies), and CPU of each
thread that used any (the event loop, the SQLite commit thread, reader threads). A thread
whose CPU is large for little work is handing the GIL back and forth with the event loop:
this is how BENCHMARKS.md found the old writer thread's 0.25 ms per scan. Compare
endpoints within one run; absolute figures drift.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.settings import get_settings
from load.bench_requests import (
    Item,
    declaration_items,
    fallback_bodies,
    noop_items,
    resolved,
    scan_items,
)
from load.seed import SeedPlan, seed_sync
from load.seed_staff import staff_maker
from load.server import Server, load_phones, server_environment

CONCURRENCY = 64
SCENARIOS = ("noop", "noop_resolved", "submit", "scan")


@dataclass
class Result:
    scenario: str
    requests: int
    statuses: dict[int, int]
    wall_us: float
    cpu_us: float
    written_kb: float  # bytes this process wrote to files (WAL, checkpoints) per request
    threads_us: dict[str, float]


def thread_cpu() -> dict[str, float]:
    """CPU seconds used so far by each live thread of this process, by thread name."""
    ticks = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for thread in threading.enumerate():
        try:
            stat = Path(f"/proc/self/task/{thread.native_id}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        out[thread.name] = (int(fields[11]) + int(fields[12])) / ticks
    return out


def bytes_written() -> int:
    """Bytes this process has handed to write() so far (Linux; 0 elsewhere)."""
    try:
        text = Path("/proc/self/io").read_text()
    except OSError:
        return 0
    fields = dict(line.split(": ") for line in text.splitlines())
    return int(fields["wchar"])


@contextmanager
def seeded_environment(
    plan: SeedPlan, *, seed: bool
) -> Iterator[tuple[dict[str, str], list[Item]]]:
    """A database seeded through a real server, and the environment that serves it."""
    with tempfile.TemporaryDirectory(prefix="khaibao-inprocess-") as tmp:
        env = server_environment(
            f"sqlite:///{tmp}/khaibao.sqlite3",
            phones=load_phones(0, plan.scanned_households),
            group_commit=True,
            max_in_flight=None,
            scheduled_jobs=False,
        )
        env = {**env, "KHAIBAO_SHED_LOOP_LAG_MS": "0"}
        items: dict[str, list[Item]] = {}
        if seed:
            log = Path(tmp) / "server.log"
            with Server(env, log_path=log, workers=1, bench_routes=True) as server:
                fixtures = seed_sync(server.base_url, plan, make_staff=staff_maker(env))
            declarations = declaration_items(fixtures, plan)
            items = {"submit": declarations, "scan": scan_items(fixtures)}
            bodies = noop_items(declarations)
        else:
            bodies = fallback_bodies(plan)
        items["noop"] = bodies
        items["noop_resolved"] = resolved(bodies)
        yield env, [item for name in SCENARIOS for item in items.get(name, [])]


def http_scope(
    method: str,
    path: str,
    query: str,
    headers: list[tuple[bytes, bytes]],
    *,
    client_port: int,
) -> dict[str, object]:
    """The ASGI scope uvicorn would hand the app for this request from 127.0.0.1."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query.encode(),
        "headers": headers,
        "client": ("127.0.0.1", client_port),
        "server": ("127.0.0.1", 80),
        "state": {},
    }


class FileRecorder:
    """Each file of ours (relative to the repository) in which a function ran while
    `recording`, on any thread started after `install()`: what one request passes through.
    Installed before the app starts, so its writer and reader threads are seen too."""

    def __init__(self) -> None:
        self.root = str(Path(__file__).resolve().parents[2])
        self.files: dict[str, set[str]] = {}  # file -> names of the threads it ran on
        self.recording = False

    def profile(self, frame: Any, event: str, arg: object) -> None:
        if self.recording and event == "call":
            name = frame.f_code.co_filename
            if name.startswith(self.root) and "/.venv/" not in name and "/load/" not in name:
                thread = threading.current_thread().name
                self.files.setdefault(name[len(self.root) + 1 :], set()).add(thread)

    @contextmanager
    def installed(self) -> Iterator[None]:
        threading.setprofile(self.profile)
        sys.setprofile(self.profile)
        try:
            yield
        finally:
            sys.setprofile(None)
            threading.setprofile(None)


async def drive(
    scenario: str, items: list[Item], requests: int, files: FileRecorder | None = None
) -> Result:
    from load.inprocess.benchapp import bench_app  # reads the environment set by the caller

    app = bench_app()
    statuses: dict[int, int] = {}
    counter = iter(range(10**9))

    async def call() -> None:
        index = next(counter)
        method, target, authorization, body = items[index % len(items)]
        path, _, query = target.partition("?")
        raw = body.encode()
        headers = [(b"host", b"127.0.0.1"), (b"content-length", str(len(raw)).encode())]
        if raw:
            headers.append((b"content-type", b"application/json"))
        if authorization:
            headers.append((b"authorization", authorization.encode()))
        if scenario == "submit":
            headers.append((b"idempotency-key", f"inprocess-{time.time_ns()}-{index}".encode()))
        scope = http_scope(method, path, query, headers, client_port=40000 + index % 20000)
        sent = False

        async def receive() -> dict[str, object]:
            nonlocal sent
            if sent:
                await asyncio.Event().wait()  # no disconnect: the client stays
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}

        async def send(message: dict[str, object]) -> None:
            if message["type"] == "http.response.start":
                status = int(message["status"])  # type: ignore[call-overload]
                statuses[status] = statuses.get(status, 0) + 1

        await app(scope, receive, send)  # type: ignore[arg-type]

    async def client(count: int) -> None:
        for _ in range(count):
            await call()

    async with app.router.lifespan_context(app):
        await asyncio.gather(*(client(4) for _ in range(CONCURRENCY)))  # warm-up
        await _settle()
        if files is not None:
            files.recording = True
            await call()  # returns once its write is committed: the threads' part is in
            files.recording = False
        statuses.clear()
        each = max(1, requests // CONCURRENCY)
        written = bytes_written()
        threads_before, cpu, wall = thread_cpu(), time.process_time(), time.perf_counter()
        await asyncio.gather(*(client(each) for _ in range(CONCURRENCY)))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        written = bytes_written() - written
        threads_after = thread_cpu()
    done = sum(statuses.values())
    threads = {
        name: (used - threads_before.get(name, 0.0)) / done * 1e6
        for name, used in threads_after.items()
    }
    return Result(
        scenario=scenario,
        requests=done,
        statuses=dict(sorted(statuses.items())),
        wall_us=wall / done * 1e6,
        cpu_us=cpu / done * 1e6,
        threads_us={name: us for name, us in threads.items() if us >= 1},
        written_kb=written / done / 1024,
    )


async def _settle(quiet: float = 0.2, longest: float = 3.0) -> None:
    """Until the process has written nothing for `quiet` seconds (at most `longest`): what
    start-up set going in the background (the public map's first snapshot, for one) is not
    counted against the requests measured next."""
    deadline = time.monotonic() + longest
    while time.monotonic() < deadline:
        before = bytes_written()
        await asyncio.sleep(quiet)
        if bytes_written() == before:
            return


def run(scenario: str, requests: int, files: FileRecorder | None = None) -> Result:
    plan = SeedPlan(checkpoints=4, scanned_households=150, seed=2021)
    wanted = {
        "noop": "/bench/noop",
        "noop_resolved": "/bench/noop-resolved",
        "submit": "/v1/declarations",
        "scan": "/scans",
    }[scenario]
    with seeded_environment(plan, seed=scenario in ("submit", "scan")) as (env, items):
        chosen = [item for item in items if item[1].endswith(wanted)]
        saved = dict(os.environ)
        os.environ.update(env)  # the app reads its settings from the environment
        get_settings.cache_clear()
        try:
            if files is None:
                return asyncio.run(drive(scenario, chosen, requests))
            with files.installed():
                return asyncio.run(drive(scenario, chosen, requests, files))
        finally:
            os.environ.clear()
            os.environ.update(saved)
            get_settings.cache_clear()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m load.inprocess", description=__doc__)
    parser.add_argument("scenario", choices=SCENARIOS)
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument(
        "--files",
        action="store_true",
        help="instead of timing, list each file of ours one request runs code in",
    )
    args = parser.parse_args(argv)
    if args.files:
        recorder = FileRecorder()
        run(args.scenario, CONCURRENCY, recorder)
        packages = sorted({name.split("/")[0] for name in recorder.files})
        print(f"{args.scenario}: {len(recorder.files)} files in {len(packages)} packages")
        for name, threads in sorted(recorder.files.items()):
            print(f"  {name:<40} {', '.join(sorted(threads))}")
        return
    result = run(args.scenario, args.requests)
    print(f"{result.scenario}: {result.requests} requests {result.statuses}")
    print(f"  wall {result.wall_us:.0f} µs/request, process CPU {result.cpu_us:.0f} µs/request")
    print(f"  written to files {result.written_kb:.1f} KB/request (WAL and checkpoints)")
    for name, us in sorted(result.threads_us.items(), key=lambda kv: -kv[1]):
        print(f"  thread {name}: {us:.0f} µs/request")


if __name__ == "__main__":
    main()

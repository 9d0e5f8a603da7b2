"""Instructions per request, counted by valgrind: a before/after comparison that machine
noise cannot move.

    python -m load.instructions submit --requests 512     # or scan

Requests per second on these shared VMs move by up to 14 % between two runs of the same
code, more than the 5 % a change may cost. Instructions do not: the same code counts the
same to within about 1 %. This runs the real server (`api.serve`, uvicorn and httptools,
the bench app) under `valgrind --tool=callgrind` with counting off, seeds a database as
`python -m load.inprocess` does, sends warm-up requests, then counts exactly `--requests`
requests sent over HTTP by 16 keep-alive connections, and prints instructions per request.

To compare with another commit, run this file from the other commit's checkout, so that
the server, the seeding and the requests are that commit's own:

    cd ../other && PYTHONPATH=. python /path/to/this/load/instructions.py submit

Instructions are not time: waiting on the disk and the kernel's work are not in them. Read
them beside `khaibao bench`, not instead of it (BENCHMARKS.md, "The tools").
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

import load.server
from load.seed import SeedPlan

try:
    from load.inprocess.profiler import seeded_environment
except ImportError:  # a checkout from before load/inprocess/ was a package (dfaa082)
    from load.inprocess import seeded_environment  # type: ignore[attr-defined,no-redef]

Item = tuple[str, str, str, str]  # method, target, authorization, body
ROUTES = {"submit": "/v1/declarations", "scan": "/scans"}
CONNECTIONS = 16
WARM_UP = 64


async def send(base_url: str, scenario: str, items: list[Item], count: int) -> dict[int, int]:
    """`count` requests over `CONNECTIONS` keep-alive connections; the statuses answered."""
    statuses: dict[int, int] = {}
    numbers = iter(range(count))
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=600) as client:

        async def connection() -> None:
            for number in numbers:
                method, target, authorization, body = items[number % len(items)]
                headers = {"content-type": "application/json"} if body else {}
                if authorization:
                    headers["authorization"] = authorization
                if scenario == "submit":
                    headers["idempotency-key"] = f"instructions-{time.time_ns()}-{number}"
                answer = await client.request(
                    method, target, content=body.encode(), headers=headers
                )
                statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1

        await asyncio.gather(*(connection() for _ in range(CONNECTIONS)))
    return statuses


def _control(*args: str) -> None:
    """Tell the valgrind running the server to start or stop counting, or to write."""
    subprocess.run(["callgrind_control", *args], check=True)  # noqa: S603, S607 (fixed)


def count(scenario: str, requests: int) -> tuple[int, dict[int, int]]:
    """(instructions, statuses) of `requests` requests of `scenario`, after a warm-up."""
    plan = SeedPlan(checkpoints=4, scanned_households=150, seed=2021)
    with tempfile.TemporaryDirectory(prefix="khaibao-instructions-") as tmp:
        out = Path(tmp) / "callgrind.out"
        valgrind = ["valgrind", "--tool=callgrind", "--instr-atstart=no"]
        load.server.niced = lambda nice: [*valgrind, f"--callgrind-out-file={out}"]
        with seeded_environment(plan, seed=True) as (env, all_items):
            items = [item for item in all_items if item[1].endswith(ROUTES[scenario])]
            log = Path(tmp) / "server.log"
            with load.server.Server(
                env, log_path=log, workers=1, bench_routes=True, startup_timeout=600
            ) as server:
                pid = str(server.pid)
                asyncio.run(send(server.base_url, scenario, items, WARM_UP))
                _control("-i", "on", pid)
                statuses = asyncio.run(send(server.base_url, scenario, items, requests))
                _control("-i", "off", pid)
                _control("-d", pid)  # write what was counted
        dumped = Path(f"{out}.1").read_text(errors="replace")
    totals = [line for line in dumped.splitlines() if line.startswith("totals:")]
    return int(totals[0].split()[1]), statuses


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m load.instructions", description=__doc__)
    parser.add_argument("scenario", choices=sorted(ROUTES))
    parser.add_argument("--requests", type=int, default=512)
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        sys.exit("valgrind is not installed (Debian: apt-get install valgrind)")
    instructions, statuses = count(args.scenario, args.requests)
    print(f"{args.scenario}: {args.requests} requests {statuses}")
    print(f"  {instructions / args.requests:,.0f} instructions per request")


if __name__ == "__main__":
    main()

"""`khaibao load` (the surge test) and `khaibao bench` (the benchmark table).

Only argparse here: every `khaibao` command builds its parser, so the load tools' heavy
imports wait until one of them runs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_load_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "step",
        nargs="?",
        choices=("run", "seed", "numbers"),
        default="run",
        help="run (default): seed, surge, check; seed: only write load/reports/fixtures.json "
        "for a plain `locust -f load/locustfile.py --host URL`; numbers: print the "
        "KHAIBAO_TEST_OTP value a target needs for the load's phones",
    )
    parser.add_argument(
        "--host",
        help="a running service (e.g. https://staging.example): seed and load it through its "
        "API instead of starting one; accounts from KHAIBAO_LOAD_ADMIN, _ANALYST, _CLERKS, "
        "_BORDER_CLERKS (username:password)",
    )
    parser.add_argument(
        "--make-staff",
        action="store_true",
        help="with --host: create the staff accounts with `khaibao users create` under this "
        "shell's settings (the target's database) instead of KHAIBAO_LOAD_* accounts",
    )
    parser.add_argument(
        "--processes", type=int, default=1, help="Locust load-generating processes (--processes)"
    )
    parser.add_argument("--users", type=int, help="steady number of simulated users")
    parser.add_argument("--spike-factor", type=float, help="how many times more in the spike")
    parser.add_argument("--steady", type=float, help="seconds of steady load before the spike")
    parser.add_argument("--spike", type=float, help="seconds of the spike")
    parser.add_argument("--recovery", type=float, help="seconds of steady load after it")
    parser.add_argument("--phones", type=int, help="test phone numbers for citizens")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--max-in-flight", type=int, help="override KHAIBAO_MAX_IN_FLIGHT")
    parser.add_argument(
        "--nice", type=int, default=0, help="run server and Locust at this priority (e.g. -10)"
    )
    parser.add_argument("--ci", action="store_true", help="a short surge (about 45 s)")
    parser.add_argument("--out", type=Path, help="report directory (default load/reports/…)")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--duration", type=int, default=15, help="seconds per measurement")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--no-baseline", action="store_true", help="skip group commit off")
    parser.add_argument("--no-half-rate", action="store_true", help="skip the half-rate runs")
    parser.add_argument("--no-overload", action="store_true", help="skip the overload run")
    parser.add_argument(
        "--profile", action="store_true", help="also sample the server with py-spy per scenario"
    )
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated scenarios to run besides the no-ops: submit (with the naive "
        "peer's),entry_submit,qr,scan,entry_scan,report,certificate_eu_dcc,certificate_shc,"
        "map,map_304,faq,worklist (with the province officer's)",
    )
    parser.add_argument(
        "--rounds",
        type=_positive,
        default=1,
        help="run the closed-loop rows this many times on the same server; each share is then "
        "the median of its per-round shares (3 steadies the verdicts on a noisy machine)",
    )
    parser.add_argument("--max-in-flight", type=int, help="override KHAIBAO_MAX_IN_FLIGHT")
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="run server, wrk and client at this priority (e.g. -10 on a shared machine)",
    )
    parser.add_argument("--out", type=Path, help="directory for raw results")


def _load(args: argparse.Namespace) -> int:
    from load.run import run_load

    return run_load(args)


def _bench(args: argparse.Namespace) -> int:
    from load.bench import bench_command

    return bench_command(args)


def register_load(commands: Any) -> None:
    """`khaibao load`, added to the service's CLI through its `khaibao.commands` entry point."""
    load = commands.add_parser(
        "load",
        help="surge test: start a server (or use --host URL), run Locust headless, check that "
        "no acknowledged write was lost",
    )
    add_load_arguments(load)
    load.set_defaults(handler=_load)


def register_bench(commands: Any) -> None:
    """`khaibao bench`, added through the `khaibao.commands` entry point."""
    bench = commands.add_parser(
        "bench",
        help="benchmark table: requests/s, p50, p99 per endpoint vs a no-op ceiling and the "
        "naive peer",
    )
    add_bench_arguments(bench)
    bench.set_defaults(handler=_bench)

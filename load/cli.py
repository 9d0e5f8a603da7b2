"""`khaibao load` (the surge test) and `khaibao bench` (the benchmark table).

Only argparse (and the load's settings, for the defaults shown in --help) here: `khaibao
--help` builds these parsers, so the load tools' heavy imports wait until one of them runs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from load.settings import CI_PRESET, LoadSettings

# What `khaibao bench --only` selects: keys of load/bench_scenarios.py (which imports the
# service's code, so they are named here). The no-ops and group commit always run, a peer
# with its row, the province officer's worklist with the ward officer's.
BENCH_SCENARIOS = (
    "submit", "entry_submit", "qr", "scan", "entry_scan", "report", "certificate_eu_dcc",
    "certificate_shc", "map", "map_304", "faq", "worklist",
)  # fmt: skip


def _default(name: str) -> str:
    """What a load knob is without the option: LoadSettings' default, or --ci's."""
    default = LoadSettings.model_fields[name].default
    return f"default {default:g}, --ci {CI_PRESET[name]:g}, or KHAIBAO_LOAD_{name.upper()}"


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
    parser.add_argument(
        "--users", type=int, help=f"steady number of simulated users ({_default('users')})"
    )
    parser.add_argument(
        "--spike-factor",
        type=float,
        help="how many times more users in the spike (default "
        f"{LoadSettings.model_fields['spike_factor'].default:g}, or KHAIBAO_LOAD_SPIKE_FACTOR)",
    )
    parser.add_argument(
        "--steady",
        type=float,
        help=f"seconds of steady load before the spike ({_default('steady_seconds')})",
    )
    parser.add_argument(
        "--spike", type=float, help=f"seconds of the spike ({_default('spike_seconds')})"
    )
    parser.add_argument(
        "--recovery",
        type=float,
        help=f"seconds of steady load after it ({_default('recovery_seconds')})",
    )
    parser.add_argument(
        "--phones", type=int, help=f"test phone numbers for citizens ({_default('phones')})"
    )
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--max-in-flight", type=int, help="override KHAIBAO_MAX_IN_FLIGHT")
    parser.add_argument(
        "--nice", type=int, default=0, help="run server and Locust at this priority (e.g. -10)"
    )
    parser.add_argument(
        "--ci",
        action="store_true",
        help="a short surge: 45 s of load, 40 users and 400 at the peak; with start-up, "
        "seeding and the checks the run took 2 min 45 s on 2 shared cores",
    )
    parser.add_argument("--out", type=Path, help="report directory (default load/reports/…)")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _scenarios(text: str) -> frozenset[str]:
    names = frozenset(name.strip() for name in text.split(",") if name.strip())
    unknown = sorted(names - set(BENCH_SCENARIOS))
    if unknown:
        raise argparse.ArgumentTypeError(
            f"no scenario {', '.join(unknown)}; known: {', '.join(BENCH_SCENARIOS)}"
        )
    return names


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--duration", type=int, default=15, help="seconds per measurement")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument(
        "--no-baseline",
        action="store_true",
        help="skip the group commit comparison: the submit runs on fresh servers with group "
        "commit on and off, and the SQLite writer alone with it on and off",
    )
    parser.add_argument("--no-half-rate", action="store_true", help="skip the half-rate runs")
    parser.add_argument("--no-overload", action="store_true", help="skip the overload run")
    parser.add_argument(
        "--profile", action="store_true", help="also sample the server with py-spy per scenario"
    )
    parser.add_argument(
        "--only",
        type=_scenarios,
        default=frozenset(),
        help="comma-separated scenarios to run besides the no-ops and group commit: "
        f"{', '.join(BENCH_SCENARIOS)} (submit with the naive peer's, worklist with the "
        "province officer's)",
    )
    parser.add_argument(
        "--rounds",
        type=_positive,
        default=1,
        help="run the closed-loop rows this many times on the same server; each share is then "
        "the median of its per-round shares; targets are judged from 3 rounds on",
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

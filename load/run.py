"""`khaibao load` / `python -m load.run`: the surge test, end to end, in one command.

Starts the service on 127.0.0.1 with an embedded SQLite file in a temporary directory,
seeds it (staff, checkpoints, people with QR codes), runs Locust headless with the surge
shape, stops the service the way an orchestrator does, and then checks the one thing a
health authority cannot accept losing: every declaration the phones were told was saved
(201) must be in the database file. CSV and HTML reports land in load/reports/<run>/.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from load.cli import add_load_arguments
from load.data import otp_variable
from load.outcomes import merge_summaries
from load.run_checks import (
    LostCheck,
    ServerCounts,
    acknowledged_pairs,
    count_found_remote,
    count_stored,
    passed,
    server_counts,
    summary_markdown,
)
from load.seed import SeedPlan, seed_sync
from load.seed_http import SeedError
from load.seed_staff import GivenStaff, Login, staff_maker
from load.server import Server, load_phones, niced, server_environment, unwind_on_signals
from load.settings import CI_PRESET, DEFAULT_FIXTURES, LoadSettings

REPORTS = Path(__file__).resolve().parent / "reports"
# Locust is a dev dependency: `make run` installs the service, whose CLI already lists
# `khaibao load`, without it.
LOCUST_MISSING = (
    "error: `khaibao load` sends the surge with Locust, which is not installed: "
    "run `make install-dev` (pip install -c constraints.txt -e '.[dev]')"
)
LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"


def load_settings_from(args: argparse.Namespace) -> LoadSettings:
    values: dict[str, Any] = dict(CI_PRESET) if args.ci else {}
    overrides = {
        "users": args.users,
        "spike_factor": args.spike_factor,
        "steady_seconds": args.steady,
        "spike_seconds": args.spike,
        "recovery_seconds": args.recovery,
        "phones": args.phones,
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    return LoadSettings(**values)


def _locust_environment(load: LoadSettings, out: Path) -> dict[str, str]:
    env = {**os.environ}
    for name, value in load.model_dump(exclude={"fixtures", "acknowledged", "outcomes"}).items():
        text = json.dumps(list(value)) if isinstance(value, tuple) else str(value)
        env[f"KHAIBAO_LOAD_{name.upper()}"] = text
    env["KHAIBAO_LOAD_FIXTURES"] = str(out / "fixtures.json")
    env["KHAIBAO_LOAD_ACKNOWLEDGED"] = str(out / "acknowledged.txt")
    env["KHAIBAO_LOAD_OUTCOMES"] = str(out / "outcomes.json")
    return env


def locust_command(args: argparse.Namespace, load: LoadSettings, out: Path, host: str) -> list[str]:
    """Locust headless with the surge shape; with `--processes N`, N load-generating
    processes (Locust forks a master and N workers on this machine)."""
    command = [
        *niced(args.nice),
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--host",
        host,
        "--csv",
        str(out / "locust"),
        "--html",
        str(out / "report.html"),
        "--loglevel",
        "WARNING",
        "--only-summary",
        "--exit-code-on-error",
        "0",
        "--stop-timeout",
        "10",
    ]
    if args.processes > 1:
        command += ["--processes", str(args.processes)]
    return command


def run_locust(args: argparse.Namespace, load: LoadSettings, out: Path, host: str) -> float:
    """Seconds the surge took."""
    started = time.monotonic()
    with (out / "locust.log").open("wb") as locust_log:
        subprocess.run(  # noqa: S603 (our own interpreter, fixed arguments)
            locust_command(args, load, out, host),
            env=_locust_environment(load, out),
            stdout=locust_log,
            stderr=subprocess.STDOUT,
            timeout=load.total_seconds + 300,
            check=False,
        )
    return time.monotonic() - started


def read_outcomes(out: Path) -> dict[str, Any]:
    """What the Locust processes saw: one summary, or one per worker process merged."""
    paths = sorted(out.glob("outcomes*.json"))
    return merge_summaries([json.loads(p.read_text("utf-8")) for p in paths]) if paths else {}


def given_staff(load: LoadSettings) -> GivenStaff:
    """The operator's accounts on a deployed service, from KHAIBAO_LOAD_* variables."""
    if not load.admin:
        raise SeedError(
            "give the target's admin account as KHAIBAO_LOAD_ADMIN=username:password "
            "(or --make-staff to create accounts with this shell's settings)"
        )

    def logins(text: str) -> tuple[Login, ...]:
        return tuple(Login.parse(item) for item in text.split(",") if item.strip())

    return GivenStaff(
        admin=Login.parse(load.admin),
        analyst=Login.parse(load.analyst) if load.analyst else None,
        clerks=logins(load.clerks),
        border_clerks=logins(load.border_clerks),
        officer=Login.parse(load.officer) if load.officer else None,
    )


def run_remote(args: argparse.Namespace, load: LoadSettings, out: Path, plan: SeedPlan) -> int:
    """`khaibao load [seed] --host URL`: a service someone else started."""
    host = str(args.host).rstrip("/")
    try:
        if args.make_staff:
            fixtures = seed_sync(host, plan, make_staff=staff_maker({}))
        else:
            fixtures = seed_sync(host, plan, given=given_staff(load))
    except SeedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    fixtures.save(out / "fixtures.json")
    fixtures.save(DEFAULT_FIXTURES)
    print(
        f"seeded {host}: {len(fixtures.clerks)} clerks, {len(fixtures.border_clerks)} border "
        f"clerks, {len(fixtures.valid_tokens)} QR tokens; fixtures in {DEFAULT_FIXTURES}",
        flush=True,
    )
    if args.step == "seed":
        return 0
    print(f"surge for {load.total_seconds:.0f} s, peak {load.peak_users} users", flush=True)
    elapsed = run_locust(args, load, out, host)
    metrics = _metrics_of(host)
    (out / "metrics.txt").write_text(metrics, "utf-8")
    counts = server_counts(metrics)
    pairs = acknowledged_pairs(out / "acknowledged.txt")
    lost = LostCheck(len(pairs), count_found_remote(host, pairs))
    return _report(load, out, counts, lost, elapsed)


def _metrics_of(host: str) -> str:
    try:
        answer = httpx.get(f"{host}/metrics", timeout=10.0)
    except httpx.HTTPError:
        return ""
    return answer.text if answer.status_code == 200 else ""


def _report(
    load: LoadSettings, out: Path, counts: ServerCounts, lost: LostCheck, elapsed: float
) -> int:
    outcomes = read_outcomes(out)
    if not outcomes.get("requests"):
        # Nothing was sent, so nothing could fail: that is no pass (Locust did not start,
        # or could not reach the service).
        print(
            f"error: the surge sent no requests; Locust's output is in {out}/locust.log",
            file=sys.stderr,
        )
        return 1
    report = summary_markdown(load, outcomes, counts, lost, elapsed)
    (out / "summary.md").write_text(report, "utf-8")
    print(report)
    print(f"reports: {out}/ (report.html, locust_stats.csv, summary.md)")
    return 0 if passed(outcomes, counts, lost) else 1


def run_load(args: argparse.Namespace) -> int:
    unwind_on_signals()
    load = load_settings_from(args)
    plan = SeedPlan(seed=load.seed)
    if args.step == "run" and importlib.util.find_spec("locust") is None:
        print(LOCUST_MISSING, file=sys.stderr)
        return 2
    if args.step == "numbers":
        print(otp_variable(load_phones(load.phones, plan.scanned_households)))
        return 0
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out: Path = args.out or REPORTS / f"load-{stamp}"
    out.mkdir(parents=True, exist_ok=True)
    if args.host:
        return run_remote(args, load, out, plan)
    if args.step == "seed":
        print("error: `khaibao load seed` needs --host URL (a running service)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="khaibao-load-") as tmp:
        database = Path(tmp) / "khaibao.sqlite3"
        env = server_environment(
            f"sqlite:///{database}",
            phones=load_phones(load.phones, plan.scanned_households),
            max_in_flight=args.max_in_flight,
        )
        server = Server(env, log_path=out / "server.log", workers=args.workers, nice=args.nice)
        print(f"starting the service on {server.base_url} (SQLite in {tmp})", flush=True)
        with server:
            print(
                "seeding: staff, checkpoints, people with QR codes, arriving families", flush=True
            )
            fixtures = seed_sync(server.base_url, plan, make_staff=staff_maker(env))
            fixtures.save(out / "fixtures.json")
            print(
                f"seeded {len(fixtures.clerks)} checkpoints, {len(fixtures.valid_tokens)} QR "
                f"tokens; surge for {load.total_seconds:.0f} s, peak {load.peak_users} users",
                flush=True,
            )
            elapsed = run_locust(args, load, out, server.base_url)
            metrics = server.metrics()
            (out / "metrics.txt").write_text(metrics, "utf-8")
            counts = server_counts(metrics)
        # Counted in the file after the server stopped: what survived on disk.
        ids = set(acknowledged_pairs(out / "acknowledged.txt"))
        lost = LostCheck(len(ids), count_stored(database, ids))
    return _report(load, out, counts, lost, elapsed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m load.run", description=__doc__)
    add_load_arguments(parser)
    return run_load(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
